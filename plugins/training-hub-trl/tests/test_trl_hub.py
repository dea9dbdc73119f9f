"""sft and dpo on TRL from Hugging Face Hub ids, resolved from a Hub cache offline.

These machines have no Hub access, so the test lays out a Hub cache in
huggingface_hub's documented layout (``models--org--name/snapshots/<commit>/``,
``refs/main``; ``datasets--org--name/...`` with Parquet files per split) and sets
``HF_HUB_OFFLINE=1``: the same call that would download finds everything in the
cache. It runs in a subprocess because huggingface_hub reads its environment on import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl

MODEL_COMMIT = "1" * 40
DATA_COMMIT = "2" * 40
PAIRS_COMMIT = "3" * 40

_TRAIN = """
import json, sys
from training_hub import create_algorithm
common, output = json.loads(sys.argv[1]), sys.argv[2]
out = {}
for algorithm, data, extra in (("sft", "acme/chat", {"data_split": "train"}),
                               ("dpo", "acme/pairs", {"beta": 0.1})):
    result = create_algorithm(algorithm, "trl").train(
        **common, **extra, data_path=data, ckpt_output_dir=f"{output}/{algorithm}")
    out[algorithm] = {"steps": result.steps, "final_loss": result.final_loss,
                      "last_checkpoint": str(result.last_checkpoint)}
print("RESULT " + json.dumps(out))
"""


def _dataset_repo(hub: Path, name: str, commit: str, splits: dict[str, list[dict]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = hub / f"datasets--acme--{name}"
    files = repo / "snapshots" / commit / "data"
    files.mkdir(parents=True)
    for split, rows in splits.items():
        pq.write_table(pa.Table.from_pylist(rows), files / f"{split}-00000-of-00001.parquet")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


@pytest.mark.slow  # two TRL trainings in a fresh process: ~80 s on a loaded 2-core machine
def test_sft_and_dpo_on_trl_train_from_hub_ids_offline(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    hub = tmp_path / "hub"
    model_repo = hub / "models--acme--tiny-chat"
    snapshot = model_repo / "snapshots" / MODEL_COMMIT
    make_tiny_model(snapshot, make_tiny_tokenizer(snapshot))
    (model_repo / "refs").mkdir()
    (model_repo / "refs" / "main").write_text(MODEL_COMMIT)
    chats = [json.loads(line) for line in
             write_chat_jsonl(tmp_path / "chat.jsonl", 20).read_text().splitlines()]
    _dataset_repo(hub, "chat", DATA_COMMIT, {"train": chats[:16], "test": chats[16:]})
    pairs = [{"prompt": f"what is {a} plus one ?", "chosen": f" {a} plus one is more .",
              "rejected": " the cat is red ."} for a in ("one", "two", "three", "four") * 2]
    _dataset_repo(hub, "pairs", PAIRS_COMMIT, {"train": pairs})

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_HOME=str(tmp_path / "hf-home"), HF_HUB_CACHE=str(hub), HF_HUB_OFFLINE="1",
               HF_DATASETS_CACHE=str(tmp_path / "datasets-cache"), OMP_NUM_THREADS="1",
               TRAINING_HUB_PLUGIN_CACHE="0")
    common = {"model_path": "acme/tiny-chat", "data_cache_dir": str(tmp_path / "cache"),
              "effective_batch_size": 8, "max_tokens_per_gpu": 512, "max_seq_len": 128,
              "learning_rate": 1e-3, "lr_scheduler": "constant", "max_steps": 2,
              "checkpoint_at_epoch": False, "quiet": True, "tensorboard": False,
              "device": "cpu", "num_threads": 1, "data_workers": 1}
    run = subprocess.run([sys.executable, "-c", _TRAIN, json.dumps(common), str(tmp_path / "out")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    for algorithm in ("sft", "dpo"):
        assert result[algorithm]["steps"] == 2, result
        checkpoint = Path(result[algorithm]["last_checkpoint"])
        assert (checkpoint / "model.safetensors").is_file(), checkpoint
        card = (checkpoint / "README.md").read_text()  # names the Hub ids, for the Hub
        assert "base_model: acme/tiny-chat\n" in card, card[:400]
        assert f"datasets:\n- acme/{'chat' if algorithm == 'sft' else 'pairs'}\n" in card
    # The data sets were read by datasets and written once as Parquet (the train split).
    written = sorted(p.name for p in (tmp_path / "cache" / "hub").glob("*.parquet"))
    assert len(written) == 2 and any(n.startswith("acme_chat-train-") for n in written)
    assert 0.0 < result["dpo"]["final_loss"] < 0.7  # at most about log 2 (policy = reference)
