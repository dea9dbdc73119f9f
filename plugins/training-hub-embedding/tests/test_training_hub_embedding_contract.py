"""training-hub-embedding passes the plugin contract."""

from __future__ import annotations

from training_hub.testing.contract import check_distribution


def test_training_hub_embedding_contract() -> None:
    report = check_distribution("training-hub-embedding")
    assert report.problems == []
