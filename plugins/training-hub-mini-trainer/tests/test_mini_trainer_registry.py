"""The backend in the registry, and its 'unavailable' state when the library is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_hub_mini_trainer.plugin import REQUIREMENT

from training_hub import AlgorithmRegistry

pytest.importorskip("training_hub_osft", reason="training-hub-osft (defines osft) is not installed")


def test_registered_for_osft_under_its_class_name() -> None:
    AlgorithmRegistry.reset()
    assert "mini-trainer" in AlgorithmRegistry.list_backends("osft")
    entry = AlgorithmRegistry.backend_entry("osft", "mini-trainer")
    assert entry.target_name == "training_hub_mini_trainer.backend:MiniTrainerOSFTBackend"
    assert REQUIREMENT in entry.all_requirements()
    assert entry.requires_cuda  # declared at registration, before any import


def test_th_list_shows_unavailable_with_the_pip_command_when_library_too_old(
    tmp_path: Path,
) -> None:
    # A dist-info earlier on sys.path shadows the installed one for importlib.metadata.
    shadow = tmp_path / "rhai_innovation_mini_trainer-0.1.0.dist-info"
    shadow.mkdir()
    (shadow / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rhai-innovation-mini-trainer\nVersion: 0.1.0\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run(
        [sys.executable, "-c", "from training_hub.cli import main; main()", "list", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=True)
    osft = next(a for a in json.loads(done.stdout)["algorithms"] if a["name"] == "osft")
    backend = next(b for b in osft["backends"] if b["name"] == "mini-trainer")
    assert backend["status"] == "unavailable"
    assert f"pip install '{REQUIREMENT}'" in backend["problem"]
