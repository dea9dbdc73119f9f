"""`th new-plugin`'s generator: the plugin it writes installs, passes its tests, is listed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training_hub.scaffold import create_plugin


def test_generated_plugin_installs_passes_its_tests_and_is_listed(tmp_path: Path) -> None:
    root = create_plugin("training-hub-lineup", tmp_path / "src")
    assert root == tmp_path / "src" / "training-hub-lineup"
    assert (root / "src" / "training_hub_lineup" / "plugin.py").is_file()
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling is not installed here: pip install 'hatchling>=1.24'")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(root)],
        check=True, capture_output=True, timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
    listing = subprocess.run(
        [sys.executable, "-c", "from training_hub.cli import main; main()", "list", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )
    data = json.loads(listing.stdout)
    lineup = next(a for a in data["algorithms"] if a["name"] == "lineup")
    assert lineup["provided_by"]["distribution"] == "training-hub-lineup"
    assert [(b["name"], b["status"]) for b in lineup["backends"]] == [("toy", "ok")]


def test_algorithm_name_and_refusals(tmp_path: Path) -> None:
    root = create_plugin("acme-tools", tmp_path, algorithm="line_fit")
    pyproject = (root / "pyproject.toml").read_text()
    assert 'line_fit = "acme_tools.plugin"' in pyproject
    assert '"training-hub-core>=0.1.0,<0.2"' in pyproject
    assert "class LineFitParams(Params)" in (root / "src/acme_tools/algorithm.py").read_text()
    with pytest.raises(FileExistsError):
        create_plugin("acme-tools", tmp_path)
    with pytest.raises(ValueError, match="invalid plugin name 'Acme Tools'"):
        create_plugin("Acme Tools", tmp_path)
    with pytest.raises(ValueError, match="invalid algorithm name 'line-fit'"):
        create_plugin("acme-other", tmp_path, algorithm="line-fit")
