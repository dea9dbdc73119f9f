"""docs/reliability.md stays true: every test it cites exists, and every test is cited."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "reliability.md"
_CITATION = re.compile(r"`(test_\w+\.py)?::(test_\w+)(?:\[[^\]`]+\])?`")


def _tests_by_file() -> dict[str, set[str]]:
    found = {}
    for path in sorted(HERE.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found[path.name] = {
            node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        }
    return found


def _citations() -> list[tuple[str, str]]:
    cited, current = [], ""
    for match in _CITATION.finditer(DOC.read_text(encoding="utf-8")):
        current = match.group(1) or current
        assert current, f"{match.group(0)} names no file"
        cited.append((current, match.group(2)))
    return cited


def test_every_cited_test_exists() -> None:
    tests = _tests_by_file()
    missing = [f"{f}::{n}" for f, n in _citations() if n not in tests.get(f, set())]
    assert not missing, missing


def test_every_reliability_test_is_cited() -> None:
    cited = set(_citations())
    uncited = [
        f"{file}::{name}"
        for file, names in _tests_by_file().items()
        if file != Path(__file__).name
        for name in sorted(names)
        if (file, name) not in cited
    ]
    assert not uncited, uncited
