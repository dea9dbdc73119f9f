"""grpo (native) and lora_grpo (trl) train from Hub ids resolved offline from the Hub cache,
with training_hub 0.11.2's ``data_config`` picking the data set's config, as the peer's
documented ``lora_grpo(model_path="Qwen/...", data_path="Agent-Ark/Toucan-1.5M")`` does.

There is no Hub access here, so the test lays out a Hub cache in huggingface_hub's
documented layout (``models--org--name/snapshots/<commit>/``, ``refs/main``) with a data
set repository whose README declares two configs, and runs with ``HF_HUB_OFFLINE=1``
in a subprocess (huggingface_hub reads its environment on import).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_hub_grpo.testing import make_reverse_task

MODEL_COMMIT = "3" * 40
DATA_COMMIT = "4" * 40
_README = """---
configs:
- config_name: all
  default: true
  data_files:
  - split: train
    path: all/train.parquet
- config_name: easy
  data_files:
  - split: train
    path: easy/train.parquet
---
"""
_SCRIPT = """
import json, sys
import training_hub
settings = json.loads(sys.argv[1])
outs = {name: settings.pop(f"out_{name}") for name in ("native", "trl")}
results = {}
for name, call in (("native", training_hub.grpo),
                   ("trl", lambda **kw: training_hub.lora_grpo(backend="trl", lora_r=4, **kw))):
    result = call(ckpt_output_dir=outs[name], **settings)
    results[name] = {"steps": result.steps, "last_checkpoint": result.last_checkpoint}
print("RESULTS " + json.dumps(results))
"""


def _hub_cache(tmp: Path) -> Path:
    """Model acme/tiny-reverse, data set acme/reverse (configs all: 8 rows, easy: 4)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    task = make_reverse_task(tmp / "task", warmup_steps=2, prompts=8, held_out=2)
    hub = tmp / "hub"
    model_repo = hub / "models--acme--tiny-reverse"
    shutil.copytree(task["model"], model_repo / "snapshots" / MODEL_COMMIT)
    data_repo = hub / "datasets--acme--reverse"
    snapshot = data_repo / "snapshots" / DATA_COMMIT
    rows = [json.loads(line) for line in task["train"].read_text().splitlines()]
    for config, subset in (("all", rows), ("easy", rows[:4])):
        (snapshot / config).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(subset), snapshot / config / "train.parquet")
    (snapshot / "README.md").write_text(_README)
    for repo, commit in ((model_repo, MODEL_COMMIT), (data_repo, DATA_COMMIT)):
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(commit)
    return hub


def test_hub_model_and_data_set_config_offline_on_both_backends(tmp_path: Path) -> None:
    pytest.importorskip("training_hub_trl")
    torch.set_num_threads(1)
    hub = _hub_cache(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_HUB_CACHE=str(hub), HF_HOME=str(tmp_path / "hf-home"), HF_HUB_OFFLINE="1",
               HF_DATASETS_CACHE=str(tmp_path / "datasets-cache"), HF_DATASETS_OFFLINE="1",
               XDG_CACHE_HOME=str(tmp_path / "xdg"), OMP_NUM_THREADS="1",
               TRAINING_HUB_PLUGIN_CACHE="0")
    settings = {
        "model_path": "acme/tiny-reverse", "data_path": "acme/reverse", "data_config": "easy",
        "reward_fn": "training_hub_grpo.testing:reverse_reward", "group_size": 2,
        "prompt_batch_size": 2, "max_tokens": 4, "device": "cpu", "num_threads": 1,
        "quiet": True, "out_native": str(tmp_path / "native"), "out_trl": str(tmp_path / "trl"),
    }
    run = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(settings)], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(run.stdout.split("RESULTS ", 1)[1])
    # one pass over the 4 prompts of config "easy", 2 per batch (config "all" would be 4)
    assert results["native"]["steps"] == results["trl"]["steps"] == 2
    snapshot = hub / "models--acme--tiny-reverse" / "snapshots" / MODEL_COMMIT
    state = Path(results["native"]["last_checkpoint"]) / "training_state" / "params.json"
    params = json.loads(state.read_text())
    assert params["model_path"] == str(snapshot)  # the Hub id, resolved in the cache
    assert params["data_subset"] == "easy" and params["data_path"].endswith(".parquet")
    adapter = json.loads((Path(results["trl"]["last_checkpoint"]) / "adapter_config.json")
                         .read_text())
    assert adapter["base_model_name_or_path"] == str(snapshot)
