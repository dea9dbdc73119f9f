"""training-hub-instructlab passes the plugin contract.

No smoke training here: instructlab-training needs a CUDA GPU (the backend's
CPU refusal is tested in test_instructlab_mapping.py).
"""

from __future__ import annotations

from training_hub.testing.contract import run_contract


def test_training_hub_instructlab_contract() -> None:
    assert run_contract("training-hub-instructlab") == []
