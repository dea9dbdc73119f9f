"""docs/benchmarks.md is exactly what ``benchmarks/report.py`` makes of the committed results.

"No figure in docs that a script did not produce": the page is generated from
``benchmarks/results/*.json`` (written by the benchmark scripts) and the hand-written
``benchmarks/findings.md``; a hand edit of the page, or a result committed without
regenerating it, fails here. Every result names the command that reproduces it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "benchmarks"


def _bench_module(name: str) -> object:
    sys.path.insert(0, str(BENCH_DIR))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCH_DIR))


def test_docs_page_is_the_generated_report() -> None:
    report = _bench_module("report")
    generated = report.render()  # type: ignore[attr-defined]
    committed = (ROOT / "docs" / "benchmarks.md").read_text()
    assert committed == generated, (
        "docs/benchmarks.md differs from what benchmarks/report.py generates: run "
        "`cd benchmarks && python report.py` after changing results or findings.md"
    )


def test_every_result_names_a_benchmark_and_its_command() -> None:
    run_all = _bench_module("run_all")
    benchmarks = run_all.BENCHMARKS  # type: ignore[attr-defined]
    results = sorted((BENCH_DIR / "results").glob("*.json"))
    assert results
    for path in results:
        data = json.loads(path.read_text())
        assert data["name"] == path.stem
        command = data["command"]
        assert command.startswith("python benchmarks/run_all.py --only "), path.name
        assert command.split()[3] in benchmarks, (path.name, command)
        assert data["environment"]["date"] and data["rows"], path.name
