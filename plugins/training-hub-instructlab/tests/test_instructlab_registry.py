"""The backend in the registry, and its 'unavailable' state when the library is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from training_hub_instructlab.plugin import REQUIREMENT

from training_hub import AlgorithmRegistry


def test_registered_for_sft_under_its_class_name() -> None:
    AlgorithmRegistry.reset()
    assert "instructlab-training" in AlgorithmRegistry.list_backends("sft")
    entry = AlgorithmRegistry.backend_entry("sft", "instructlab-training")
    assert entry.target_name == "training_hub_instructlab.backend:InstructLabTrainingSFTBackend"
    assert REQUIREMENT in entry.all_requirements()
    assert entry.requires_cuda  # declared at registration, before any import


def _th_list_json(env_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(env_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    code = "from training_hub.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "list", "--json"], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_th_list_shows_unavailable_with_the_pip_command_when_library_too_old(
    tmp_path: Path,
) -> None:
    # A dist-info earlier on sys.path shadows the installed one for importlib.metadata:
    # the library then looks installed in version 0.1.0, below our requirement.
    shadow = tmp_path / "instructlab_training-0.1.0.dist-info"
    shadow.mkdir()
    (shadow / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: instructlab-training\nVersion: 0.1.0\n")
    data = _th_list_json(tmp_path)
    sft = next(a for a in data["algorithms"] if a["name"] == "sft")
    backend = next(b for b in sft["backends"] if b["name"] == "instructlab-training")
    assert backend["status"] == "unavailable"
    assert f"pip install '{REQUIREMENT}'" in backend["problem"]
    assert backend["provided_by"]["distribution"] == "training-hub-instructlab"


def test_missing_library_is_a_problem_with_the_pip_command() -> None:
    AlgorithmRegistry.reset()
    entry = AlgorithmRegistry.backend_entry("sft", "instructlab-training")
    missing = type(entry)(entry.algorithm, entry.name, entry.target_name, entry.origin,
                          requires=("instructlab-training-not-installed-anywhere>=1",))
    problem = missing.problem()
    assert problem is not None
    assert "pip install 'instructlab-training-not-installed-anywhere>=1'" in problem
