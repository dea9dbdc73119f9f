"""training-hub-trl passes the plugin contract (its training is tested in the other files)."""

from __future__ import annotations

from training_hub.testing.contract import run_contract


def test_training_hub_trl_contract() -> None:
    assert run_contract("training-hub-trl") == []
