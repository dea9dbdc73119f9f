"""The documentation stays true to the code."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from training_hub import hookspecs

ROOT = Path(__file__).resolve().parents[2]


def _hookspec_names() -> list[str]:
    return [
        name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "training_hub_spec")
    ]


def test_every_hookspec_has_a_docstring_and_is_documented() -> None:
    names = _hookspec_names()
    assert {"register_algorithms", "register_backends", "on_train_begin", "on_log"} <= set(names)
    page = (ROOT / "docs" / "plugin-system.md").read_text()
    for name in names:
        assert getattr(hookspecs, name).__doc__, f"hookspec {name} has no docstring"
        assert f"`{name}(" in page, f"hookspec {name} is missing from docs/plugin-system.md"


def test_ci_runs_exactly_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    for marker in ("<!-- ci:install -->", "<!-- ci:test -->"):
        after = readme.split(marker, 1)[1]
        assert re.match(r"\s*```bash\n.+\n```", after), f"no bash block after {marker}"
    assert "ci:install" in (ROOT / ".ci" / "run").read_text()


def test_readme_installs_every_plugin_distribution() -> None:
    readme = (ROOT / "README.md").read_text()
    install = readme.split("<!-- ci:install -->", 1)[1].split("```", 2)[1]
    for plugin in sorted((ROOT / "plugins").iterdir()):
        if (plugin / "pyproject.toml").is_file():
            assert f"plugins/{plugin.name}" in install, f"README does not install {plugin.name}"


def test_parameter_reference_is_generated_from_the_schemas() -> None:
    import pytest

    from training_hub import AlgorithmRegistry
    from training_hub._paramdocs import DOCUMENTED_ALGORITHMS, parameter_reference

    AlgorithmRegistry.reset()
    installed = set(AlgorithmRegistry.list_algorithms())
    if not set(DOCUMENTED_ALGORITHMS) <= installed:  # the page describes the full install
        pytest.skip(f"not installed: {sorted(set(DOCUMENTED_ALGORITHMS) - installed)}")
    committed = (ROOT / "docs" / "parameters.md").read_text()
    assert committed == parameter_reference(), (
        "docs/parameters.md is out of date: python -m training_hub._paramdocs > "
        "docs/parameters.md"
    )
