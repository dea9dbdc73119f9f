"""A smaller run of examples/retention.py: osft keeps task A better than sft while learning B."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "retention.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("osft_retention_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_osft_forgets_task_a_less_than_sft_and_still_learns_b(tmp_path: Path) -> None:
    example = load_example()
    result = example.run_experiment(
        tmp_path, steps_a=100, steps_b=30, eval_every=30, hidden_size=48, eval_samples=24
    )
    sft_a, osft_a = (result.task_a[m][-1] for m in result.task_a)
    sft_b, osft_b = (result.task_b[m][-1] for m in result.task_b)
    start_a, start_b = result.task_a["sft"][0], result.task_b["sft"][0]
    assert osft_a < 0.7 * sft_a, (start_a, sft_a, osft_a)  # markedly less forgetting
    assert osft_b < 0.5 * start_b, (start_b, sft_b, osft_b)  # and task B is learned
    table = example.markdown_table(result)
    assert "osft (r=0.25)" in table and table.count("\n") == 4
