"""training-hub-mini-trainer passes the plugin contract.

No smoke training here: mini-trainer needs a CUDA GPU (the backend's CPU
refusal is tested in test_mini_trainer_mapping.py).
"""

from __future__ import annotations

from training_hub.testing.contract import run_contract


def test_training_hub_mini_trainer_contract() -> None:
    assert run_contract("training-hub-mini-trainer") == []
