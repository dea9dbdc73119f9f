"""The plugin contract suite: a compliant distribution passes, each violation is named."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from training_hub import AlgorithmRegistry
from training_hub.testing.contract import check_distribution, run_contract
from training_hub.testing.dists import write_distribution

HEADER = """
from training_hub import hookimpl, Algorithm, Backend
TRAINING_HUB_PLUGIN_API = 1
"""
SCHEMA = """
from pydantic import Field
from training_hub import Algorithm, Backend
from training_hub._params import Params

class ToyParams(Params):
    steps: int = Field(3, description="Steps to run.")
    note: str = Field("x", description="Echoed back.")

class ToyAlgorithm(Algorithm):
    params_schema = ToyParams

class ToyBackend(Backend):
    def execute_training(self, p):
        return {"steps": p["steps"]}

class FailingBackend(Backend):
    def execute_training(self, p):
        raise RuntimeError("diverged")
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """``add(name, entry_points=..., modules=...)`` into a folder on sys.path and PYTHONPATH
    (the contract imports entry-point modules in a fresh interpreter too)."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", str(folder))
    AlgorithmRegistry.reset()  # forget what earlier tests' lookups found on the old sys.path
    before = set(sys.modules)

    def add(name: str, **kwargs: object) -> Path:
        path = write_distribution(folder, name, **kwargs)  # type: ignore[arg-type]
        importlib.invalidate_caches()
        return path

    yield add
    for module_name in set(sys.modules) - before:
        if str(getattr(sys.modules[module_name], "__file__", "")).startswith(str(folder)):
            del sys.modules[module_name]
    AlgorithmRegistry.reset()


def _plugin(register_body: str, extra_modules: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "toy/__init__.py": "",
        "toy/impl.py": SCHEMA,
        "toy/plugin.py": HEADER + register_body,
        **(extra_modules or {}),
    }


GOOD_REGISTER = """
@hookimpl
def register_algorithms(register):
    register("toy", "toy.impl:ToyAlgorithm", default_backend="fast")

@hookimpl
def register_backends(register):
    register("toy", "fast", "toy.impl:ToyBackend")
    register("toy", "gpu", "toy.impl:ToyBackend", requires=["surely-not-installed-lib>=1"])
"""


def test_compliant_distribution_passes_and_smoke_trains(site) -> None:  # type: ignore[no-untyped-def]
    site("toy-dist", entry_points={"toy": "toy.plugin"}, modules=_plugin(GOOD_REGISTER))
    report = check_distribution("toy-dist", smoke_params={"steps": 2})
    assert report.problems == []
    assert any("backend 'toy/gpu' not imported: requires surely-not-installed-lib>=1" in n
               for n in report.notes)
    assert "smoke training of toy/fast returned dict" in report.notes
    assert not any("imported by every `th list`" in n for n in report.notes)


def test_registrations_th_list_cannot_replay_are_noted(site) -> None:  # type: ignore[no-untyped-def]
    body = GOOD_REGISTER.replace('register("toy", "fast", "toy.impl:ToyBackend")',
                                 'from toy.impl import ToyBackend\n'
                                 '    register("toy", "fast", ToyBackend)')
    site("toy-dist", entry_points={"toy": "toy.plugin"}, modules=_plugin(body))
    report = check_distribution("toy-dist")
    assert report.problems == []
    assert ("entry-point module 'toy.plugin' is imported by every `th list`: these "
            "registrations are not plain data (import strings, strings, numbers, lists of "
            "strings): backend ('toy', 'fast')") in report.notes


def test_failing_smoke_training_is_a_problem(site) -> None:  # type: ignore[no-untyped-def]
    body = GOOD_REGISTER.replace("toy.impl:ToyBackend\")\n", "toy.impl:FailingBackend\")\n", 1)
    site("toy-dist", entry_points={"toy": "toy.plugin"}, modules=_plugin(body))
    problems = run_contract("toy-dist", smoke_params={"steps": 2})
    assert problems == ["smoke training of toy/fast failed: RuntimeError: diverged"]
    assert run_contract("toy-dist", smoke_params={"stpes": 2})[0].startswith(
        "smoke training of toy/fast failed: ParameterError: Invalid parameters")


def test_every_violation_is_named(site) -> None:  # type: ignore[no-untyped-def]
    body = """
import torch  # heavy at import: th list would pay for it

@hookimpl
def register_algorithms(register):
    register("toy", "toy.impl:ToyAlgorithm")
    register("other", "toy.impl:ToyAlgorithm")
    register("bare", "toy.bare:BareAlgorithm")

@hookimpl
def register_backends(register):
    register("toy", "fast", "toy.impl:Missing")
    register("toy", "odd", "toy.impl:ToyParams")
"""
    bare = {"toy/bare.py": """
from pydantic import Field
from training_hub import Algorithm
from training_hub._params import Params

class BareParams(Params):
    lr: float = 0.1
    steps: int = Field(3, description="Steps.")

class BareAlgorithm(Algorithm):
    params_schema = BareParams
"""}
    site("bad-dist", entry_points={"toy": "toy.plugin", "Bad Name": "toy.plugin"},
         modules=_plugin(body, bare))
    problems = run_contract("bad-dist")
    text = "\n".join(problems)
    assert "entry point 'Bad Name' is not an algorithm name" in text
    assert "entry-point module 'toy.plugin' imports torch" in text
    assert "registers algorithm for 'other' but is advertised only as" in text
    assert "registers algorithm for 'bare' but is advertised only as" in text
    assert "BareParams.lr has no description" in text
    assert "BareParams.steps" not in text
    assert "backend 'toy/fast': import string 'toy.impl:Missing' does not resolve" in text
    assert "backend 'toy/odd': 'toy.impl:ToyParams' is not a subclass of Backend" in text
    assert len(problems) == 7, problems


def test_missing_api_version_broken_import_and_no_entry_points(site) -> None:  # type: ignore[no-untyped-def]
    site("noapi-dist", entry_points={"toy": "toy.plugin"}, modules={
        "toy/__init__.py": "",
        "toy/plugin.py": "from training_hub import hookimpl\n",
    })
    problems = run_contract("noapi-dist")
    assert problems == [
        "entry-point module 'toy.plugin' sets TRAINING_HUB_PLUGIN_API=None; this "
        "training-hub expects 1",
        "entry-point module 'toy.plugin' registers nothing",
    ]
    site("broken-dist", entry_points={"zap": "zap.plugin"}, modules={
        "zap/__init__.py": "", "zap/plugin.py": "import not_a_module_anywhere\n"})
    assert run_contract("broken-dist") == [
        "entry-point module 'zap.plugin' fails to import: ModuleNotFoundError: No module "
        "named 'not_a_module_anywhere'"]
    site("empty-dist", entry_points={}, modules={})
    assert "has no entry point in group 'training_hub.algorithms'" in run_contract(
        "empty-dist")[0]
    assert run_contract("never-installed-dist") == [
        "distribution 'never-installed-dist' is not installed"]


def test_pytest_plugin_option_adds_a_failing_item_for_a_broken_dist(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site("noapi-dist", entry_points={"toy": "toy.plugin"}, modules={
        "toy/__init__.py": "", "toy/plugin.py": "X = 1\n"})
    site("toy-dist", entry_points={"toy": "toy.plugin2"}, modules={
        "toy/plugin2.py": HEADER + GOOD_REGISTER, "toy/impl.py": SCHEMA})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "training_hub.testing.contract",
         "--th-dist=noapi-dist", "--th-dist=toy-dist", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr
    assert "noapi-dist breaks the plugin contract" in done.stdout
