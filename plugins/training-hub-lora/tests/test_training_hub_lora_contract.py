"""training-hub-lora passes the plugin contract, including a smoke training of `native`."""

from __future__ import annotations

from pathlib import Path

from training_hub.testing.contract import check_distribution
from training_hub.testing.tiny import smoke_training_params


def test_training_hub_lora_contract_with_native_smoke_training(tmp_path: Path) -> None:
    smoke = smoke_training_params(tmp_path, lora_r=4)
    report = check_distribution("training-hub-lora", smoke_params=smoke)
    assert report.problems == []
    assert any(note.startswith("smoke training of lora/native") for note in report.notes)
