"""The contract suite every training-hub plugin distribution runs against itself.

Use it from a test::

    from training_hub.testing.contract import run_contract

    def test_contract():
        assert run_contract("my-plugin-dist") == []

or as a pytest plugin, which adds one test item per distribution named with
``--th-dist`` and the fixtures ``th_plugin_contract`` and ``th_smoke_params``::

    pytest -p training_hub.testing.contract --th-dist=my-plugin-dist

It checks, for the installed distribution: it has entry points in the
``training_hub.algorithms`` group, named like algorithms; each entry-point
module imports in a fresh interpreter without importing torch or
transformers, and sets ``TRAINING_HUB_PLUGIN_API``; its hooks register
without error, each registration under the entry-point name of its algorithm
(the loader imports a plugin only for the names it is advertised under);
import strings resolve to Algorithm/Backend subclasses (backends only when
their requirements are installed); every algorithm it defines has a complete
parameter schema (a type and a description per field); each backend implements
``run`` or ``execute_training`` and declares the callback events it fires; and,
when smoke parameters are given, each of its runnable backends trains with them
and fires the events it declares. Registrations
that ``th list`` cannot replay from its cache (classes, components) are notes.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pytest

__all__ = [
    "HEAVY_MODULES",
    "ContractReport",
    "check_distribution",
    "run_contract",
    "th_plugin_contract",
    "th_smoke_params",
]

#: Modules an entry-point module must not import (the first ``th list`` after an install,
#: ``th doctor`` and every lookup import plugin modules).
HEAVY_MODULES = ("torch", "transformers")
_ALGORITHM_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_IMPORT_PROBE = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
print(json.dumps({
    "heavy": sorted(m for m in sys.argv[2:] if m in sys.modules),
    "api": getattr(module, "TRAINING_HUB_PLUGIN_API", None),
}))
"""


@dataclass
class ContractReport:
    """Problems (contract violations) and notes (checks skipped, with why)."""

    distribution: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _probe_module(module: str) -> tuple[dict[str, Any] | None, str | None]:
    """Import ``module`` in a fresh interpreter; its probe result or an error."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, module, *HEAVY_MODULES],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return None, last
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result, None


def _collect_registrations(module_name: str) -> list[Any]:
    from .._plugins import PluginLoader

    collected: list[Any] = []
    loader = PluginLoader(collected.extend)
    loader.register_plugin(importlib.import_module(module_name), name=f"contract:{module_name}")
    return collected


def _note_uncacheable(where: str, registrations: list[Any], report: ContractReport) -> None:
    """Note registrations that ``th list`` cannot replay from its cache (allowed, slower)."""
    from .._plugin_cache import storable

    objects = [f"{reg.kind} {reg.args[:2]!r}" for reg in registrations
               if storable(reg.kind, reg.args, reg.options) is None]
    if objects:
        report.notes.append(
            f"{where} is imported by every `th list`: these registrations are not plain data "
            f"(import strings, strings, numbers, lists of strings): {'; '.join(objects)}"
        )


def _check_schema(algorithm_name: str, cls: type[Any], report: ContractReport) -> None:
    from .._params import Params

    schema = getattr(cls, "params_schema", None)
    if not (isinstance(schema, type) and issubclass(schema, Params)):
        report.problems.append(
            f"algorithm '{algorithm_name}' ({cls.__name__}) has no params_schema (a Params "
            "subclass): the CLI flags, config files, `th info` and docs come from it"
        )
        return
    for name, info in schema.model_fields.items():
        if info.annotation is None:
            report.problems.append(f"{schema.__name__}.{name} has no type annotation")
        if not (info.description or "").strip():
            report.problems.append(
                f"{schema.__name__}.{name} has no description: give it "
                "Field(..., description='...') (it is the help of `th info` and the docs)"
            )


def _resolve(target: Any, base: type, what: str, report: ContractReport) -> type[Any] | None:
    if not isinstance(target, str):
        return target if isinstance(target, type) and issubclass(target, base) else None
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        report.problems.append(f"{what}: import string '{target}' does not resolve: "
                               f"{type(exc).__name__}: {exc}")
        return None
    if not (isinstance(obj, type) and issubclass(obj, base)):
        report.problems.append(f"{what}: '{target}' is not a subclass of {base.__name__}")
        return None
    return obj


def _check_backend(what: str, backend_cls: type[Any], report: ContractReport) -> None:
    """The backend implements ``run`` or ``execute_training`` and declares the callback
    events it fires (train begin and end at least)."""
    from .._algorithm import Backend
    from ..callbacks import EVENTS

    has_run = backend_cls.run is not Backend.run
    has_execute = backend_cls.execute_training is not Backend.execute_training
    if not (has_run or has_execute):
        report.problems.append(f"{what} implements neither run(params, callbacks) nor "
                               "execute_training(algorithm_params)")
    elif has_run and not has_execute and getattr(backend_cls, "params_schema", None) is None:
        report.problems.append(
            f"{what} implements run() but sets no params_schema, so execute_training(dict) "
            "(the registry API) cannot validate its dict: set params_schema"
        )
    events = set(getattr(backend_cls, "callback_events", ()))
    unknown = sorted(events - set(EVENTS))
    if unknown:
        report.problems.append(f"{what}.callback_events names unknown events {unknown}")
    if not {"on_train_begin", "on_train_end"} <= events:
        report.problems.append(f"{what}.callback_events must include on_train_begin and "
                               "on_train_end (every backend fires them)")


class _EventRecorder:
    """Records the events the smoke training fires (those the backend declares)."""

    def __init__(self, events: frozenset[str]) -> None:
        self.seen: list[str] = []
        self.result: Any = None
        for event in events:
            setattr(self, event, self._recorder(event))

    def _recorder(self, event: str) -> Callable[[Any], None]:
        def record(context: Any) -> None:
            self.seen.append(event)
            if event == "on_train_end":
                self.result = context.result

        return record


def _smoke_train(
    algorithm_name: str, backend_name: str, backend_cls: type[Any],
    smoke_params: Mapping[str, Any], report: ContractReport,
) -> None:
    from .._algorithm_registry import AlgorithmRegistry
    from .._errors import BackendUnavailableError

    algorithm_cls = AlgorithmRegistry.get_algorithm(algorithm_name)
    what = f"{algorithm_name}/{backend_name}"
    declared = frozenset(getattr(backend_cls, "callback_events", ()))
    recorder = _EventRecorder(declared)
    params = dict(smoke_params)
    params["callbacks"] = [*params.get("callbacks", []), recorder]
    try:
        result = algorithm_cls(backend=backend_cls()).train(**params)
    except BackendUnavailableError as exc:
        report.notes.append(f"smoke training of {what} skipped: {exc}")
        return
    except Exception as exc:
        report.problems.append(f"smoke training of {what} failed: "
                               f"{type(exc).__name__}: {exc}")
        return
    report.notes.append(f"smoke training of {what} returned {type(result).__name__}")
    for event in ("on_train_begin", "on_step_begin", "on_step_end", "on_train_end"):
        if event in declared and event not in recorder.seen:
            report.problems.append(f"smoke training of {what} never fired {event}, which its "
                                   "callback_events declares")
    if recorder.seen[-1:] == ["on_train_end"] and recorder.result is not result:
        report.problems.append(f"smoke training of {what}: on_train_end's context.result is "
                               "not the object train() returned")


def check_distribution(
    distribution_name: str,
    *,
    smoke_params: Mapping[str, Any] | None = None,
    smoke_backends: Callable[[str, str], bool] | None = None,
) -> ContractReport:
    """Run every contract check on an installed distribution; see the module docstring.

    ``smoke_params`` are passed to ``Algorithm.train`` for each backend the
    distribution registers whose requirements are installed (restricted to
    those for which ``smoke_backends(algorithm, backend)`` is true, if given).
    A backend that reports itself unavailable here (no GPU) is noted, not failed.
    """
    from .._algorithm import Algorithm, Backend
    from .._plugins import ENTRY_POINT_GROUP, PLUGIN_API_VERSION
    from .._requirements import missing_requirements

    report = ContractReport(distribution_name)
    try:
        dist = metadata.distribution(distribution_name)
    except metadata.PackageNotFoundError:
        report.problems.append(f"distribution '{distribution_name}' is not installed")
        return report
    entry_points = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
    if not entry_points:
        report.problems.append(
            f"'{distribution_name}' has no entry point in group '{ENTRY_POINT_GROUP}': add "
            f'[project.entry-points."{ENTRY_POINT_GROUP}"] ALGORITHM = "package.plugin"'
        )
        return report
    advertised: dict[str, set[str]] = {}
    for ep in entry_points:
        if not _ALGORITHM_NAME.match(ep.name):
            report.problems.append(f"entry point '{ep.name}' is not an algorithm name "
                                   "(lowercase letters, digits, '-' and '_')")
        advertised.setdefault(ep.value, set()).add(ep.name)

    for module_name, names in sorted(advertised.items()):
        where = f"entry-point module '{module_name}'"
        probe, error = _probe_module(module_name)
        if probe is None:
            report.problems.append(f"{where} fails to import: {error}")
            continue
        if probe["heavy"]:
            report.problems.append(
                f"{where} imports {', '.join(probe['heavy'])}: keep plugin modules light "
                "(register import strings, import heavy libraries in the backend module)"
            )
        if probe["api"] != PLUGIN_API_VERSION:
            report.problems.append(
                f"{where} sets TRAINING_HUB_PLUGIN_API={probe['api']!r}; this training-hub "
                f"expects {PLUGIN_API_VERSION}"
            )
        try:
            registrations = _collect_registrations(module_name)
        except Exception as exc:
            report.problems.append(f"{where}: a hook raised {type(exc).__name__}: {exc}")
            continue
        if not registrations:
            report.problems.append(f"{where} registers nothing")
        _note_uncacheable(where, registrations, report)
        for reg in registrations:
            if reg.kind == "component":
                continue
            algorithm_name = reg.args[0]
            if algorithm_name not in names:
                report.problems.append(
                    f"{where} registers {reg.kind} for '{algorithm_name}' but is advertised "
                    f"only as {sorted(names)}: add the entry point "
                    f'{algorithm_name} = "{module_name}" so it is loaded for that name'
                )
            if reg.kind == "algorithm":
                cls = _resolve(reg.args[1], Algorithm, f"algorithm '{algorithm_name}'", report)
                if cls is not None:
                    _check_schema(algorithm_name, cls, report)
                continue
            backend_name, target = reg.args[1], reg.args[2]
            what = f"backend '{algorithm_name}/{backend_name}'"
            requires = tuple(reg.options.get("requires", ()))
            missing = missing_requirements(requires)
            if missing:
                report.notes.append(f"{what} not imported: requires {', '.join(missing)}")
                continue
            backend_cls = _resolve(target, Backend, what, report)
            if backend_cls is None:
                continue
            _check_backend(what, backend_cls, report)
            wanted = smoke_backends is None or smoke_backends(algorithm_name, backend_name)
            if smoke_params is not None and wanted:
                _smoke_train(algorithm_name, backend_name, backend_cls, smoke_params, report)
    return report


def run_contract(
    distribution_name: str,
    *,
    smoke_params: Mapping[str, Any] | None = None,
    smoke_backends: Callable[[str, str], bool] | None = None,
) -> list[str]:
    """The contract problems of an installed distribution; ``[]`` when it complies."""
    return check_distribution(
        distribution_name, smoke_params=smoke_params, smoke_backends=smoke_backends
    ).problems


# --- pytest plugin --------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("training-hub")
    group.addoption(
        "--th-dist", action="append", default=[], metavar="DISTRIBUTION",
        help="Run the training-hub plugin contract on this installed distribution "
        "(repeatable).",
    )


@pytest.fixture
def th_smoke_params() -> Mapping[str, Any] | None:
    """Parameters for a smoke training; override it to return a tiny run's parameters."""
    return None


@pytest.fixture
def th_plugin_contract(
    request: pytest.FixtureRequest, th_smoke_params: Mapping[str, Any] | None
) -> Callable[..., list[str]]:
    """``check(distribution=None) -> problems``; defaults to the first ``--th-dist``."""

    def check(distribution: str | None = None) -> list[str]:
        names = request.config.getoption("--th-dist")
        name = distribution or (names[0] if names else None)
        if name is None:
            raise pytest.UsageError("name a distribution: th_plugin_contract('dist') or "
                                    "--th-dist=dist")
        return run_contract(name, smoke_params=th_smoke_params)

    return check


class ContractItem(pytest.Item):
    """One contract run, added to the session for each ``--th-dist``."""

    def __init__(self, *, distribution: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.distribution = distribution

    def runtest(self) -> None:
        report = check_distribution(self.distribution)
        for note in report.notes:
            sys.stderr.write(f"note: {note}\n")
        if report.problems:
            raise AssertionError(
                f"{self.distribution} breaks the plugin contract:\n- "
                + "\n- ".join(report.problems)
            )

    def reportinfo(self) -> tuple[str, int, str]:
        return ("training-hub contract", 0, f"contract[{self.distribution}]")


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for name in config.getoption("--th-dist"):
        items.append(
            ContractItem.from_parent(session, name=f"contract[{name}]", distribution=name)
        )
