"""training-hub-osft passes the plugin contract, including a smoke training of `native`."""

from __future__ import annotations

from pathlib import Path

from training_hub.testing.contract import check_distribution
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl


def test_training_hub_osft_contract_with_native_smoke_training(tmp_path: Path) -> None:
    tokenizer = make_tiny_tokenizer(tmp_path / "tok")
    make_tiny_model(tmp_path / "model", tokenizer)
    data = write_chat_jsonl(tmp_path / "chat.jsonl", 16)
    smoke = {
        "model_path": str(tmp_path / "model"), "data_path": str(data),
        "ckpt_output_dir": str(tmp_path / "out"), "max_steps": 2, "effective_batch_size": 4,
        "max_tokens_per_gpu": 512, "max_seq_len": 256, "learning_rate": 1e-3,
        "device": "cpu", "data_workers": 1, "tensorboard": False, "quiet": True,
        "data_cache_dir": str(tmp_path / "cache"), "unfreeze_rank_ratio": 0.5,
    }
    report = check_distribution("training-hub-osft", smoke_params=smoke,
                                smoke_backends=lambda algorithm, backend: backend == "native")
    assert report.problems == []
    assert any(note.startswith("smoke training of osft/native") for note in report.notes)
