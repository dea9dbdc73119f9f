"""training-hub-sft passes the plugin contract, including a smoke training of `native`."""

from __future__ import annotations

from pathlib import Path

from training_hub.testing.contract import check_distribution
from training_hub.testing.tiny import smoke_training_params


def test_training_hub_sft_contract_with_native_smoke_training(tmp_path: Path) -> None:
    smoke = smoke_training_params(tmp_path)
    report = check_distribution("training-hub-sft", smoke_params=smoke)
    assert report.problems == []
    assert "smoke training of sft/native returned TrainResult" in report.notes
