"""Fixtures for the core tests: real plugin distributions on a temporary sys.path entry."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from training_hub import AlgorithmRegistry
from training_hub.testing.dists import write_distribution

AddDist = Callable[..., Path]


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AddDist]:
    """Returns ``add(name, entry_points=..., modules=...)`` that installs a distribution
    into a fresh folder on sys.path; the registry is reset before and after."""
    site = tmp_path / "site"
    site.mkdir()
    for var in ("TRAINING_HUB_PLUGINS", "TRAINING_HUB_BLOCK_PLUGINS",
                "TRAINING_HUB_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(var, raising=False)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    AlgorithmRegistry.reset()
    before = set(sys.modules)

    def add(name: str, version: str = "1.0", **kwargs: object) -> Path:
        path = write_distribution(site, name, version, **kwargs)  # type: ignore[arg-type]
        importlib.invalidate_caches()
        AlgorithmRegistry.reset()
        return path

    yield add
    sys.path.remove(str(site))
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        if module is not None and str(getattr(module, "__file__", "")).startswith(str(site)):
            del sys.modules[name]
    importlib.invalidate_caches()
    AlgorithmRegistry.reset()


PLUGIN_HEADER = """
from training_hub import hookimpl, Algorithm, Backend
TRAINING_HUB_PLUGIN_API = 1
"""
