"""training-hub-gepa passes the plugin contract, including a smoke run of its `gepa` backend."""

from __future__ import annotations

import gepa_toy

from training_hub.testing.contract import check_distribution


def test_training_hub_gepa_contract_with_smoke_run() -> None:
    smoke = {
        "seed_candidate": {"system_prompt": gepa_toy.SEED_INSTRUCTION},
        "task_lm": gepa_toy.task_model,
        "reflection_lm": gepa_toy.reflection_model,
        "trainset": gepa_toy.toy_examples(),
        "max_metric_calls": 30,
    }
    report = check_distribution("training-hub-gepa", smoke_params=smoke)
    assert report.problems == []
    assert "smoke training of gepa/gepa returned GEPARunResult" in report.notes
