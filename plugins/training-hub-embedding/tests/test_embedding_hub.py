"""embedding_sft trains from a Hub id resolved offline from the Hub cache, on both backends.

There is no Hub access here, so the test lays out a Hub cache in huggingface_hub's
documented layout (``models--org--name/snapshots/<commit>/``, ``refs/main``) and runs
with ``HF_HUB_OFFLINE=1`` in a subprocess (huggingface_hub reads its environment on
import). An id missing from the cache is one clear error, not a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_hub_embedding.testing import make_tiny_encoder, toy_pairs, write_jsonl

COMMIT = "5" * 40
_SCRIPT = """
import json, sys
import training_hub
settings = json.loads(sys.argv[1])
outputs = {b: settings.pop(f"out_{b}") for b in ("native", "sentence-transformers")}
results = {}
for backend, output in outputs.items():
    try:
        result = training_hub.embedding_sft(backend=backend,
                                            ckpt_output_dir=output,
                                            **settings)
    except training_hub.UserError as error:
        results[backend] = {"error": str(error)}
    else:
        results[backend] = {"model_path": result.model_path}
print("RESULTS " + json.dumps(results))
"""


def _offline_env(tmp: Path, hub: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_HUB_CACHE=str(hub), HF_HOME=str(tmp / "hf-home"), HF_HUB_OFFLINE="1",
               XDG_CACHE_HOME=str(tmp / "xdg"), OMP_NUM_THREADS="1",
               TRAINING_HUB_PLUGIN_CACHE="0")
    return env


def _run(tmp: Path, hub: Path, model_path: str) -> dict[str, dict[str, str]]:
    settings = {"model_path": model_path, "loss_type": "mnrl", "num_epochs": 1,
                "batch_size": 16, "data_path": str(write_jsonl(tmp / "train.jsonl", toy_pairs())),
                "out_native": str(tmp / "native"),
                "out_sentence-transformers": str(tmp / "st")}
    run = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(settings)],
                         env=_offline_env(tmp, hub), capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(run.stdout.split("RESULTS ", 1)[1])  # type: ignore[no-any-return]


def test_a_hub_id_trains_offline_from_the_cache_on_both_backends(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    hub = tmp_path / "hub"
    repo = hub / "models--acme--tiny-encoder"
    make_tiny_encoder(repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    results = _run(tmp_path, hub, "acme/tiny-encoder")
    for backend, out in (("native", "native"), ("sentence-transformers", "st")):
        assert "error" not in results[backend], results[backend]
        saved = Path(results[backend]["model_path"])
        assert saved.is_relative_to(tmp_path / out)
        assert (saved / "modules.json").is_file()  # a SentenceTransformer folder

    missing = _run(tmp_path, hub, "acme/not-cached")
    for backend in ("native", "sentence-transformers"):
        message = missing[backend].get("error", "")
        assert "acme/not-cached" in message, missing[backend]

