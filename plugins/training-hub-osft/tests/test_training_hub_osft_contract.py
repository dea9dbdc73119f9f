"""training-hub-osft passes the plugin contract, including a smoke training of `native`."""

from __future__ import annotations

from pathlib import Path

from training_hub.testing.contract import check_distribution
from training_hub.testing.tiny import smoke_training_params


def test_training_hub_osft_contract_with_native_smoke_training(tmp_path: Path) -> None:
    smoke = smoke_training_params(tmp_path, unfreeze_rank_ratio=0.5)
    report = check_distribution("training-hub-osft", smoke_params=smoke,
                                smoke_backends=lambda algorithm, backend: backend == "native")
    assert report.problems == []
    assert any(note.startswith("smoke training of osft/native") for note in report.notes)
