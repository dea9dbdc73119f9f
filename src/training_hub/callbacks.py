"""Callbacks: observe and steer a training run, on every algorithm and backend.

The names and fields are those of training_hub 0.11.2: subclass
:class:`TrainingHubCallback`, override the events you need, and pass instances
(or ``"pkg.mod:Class"`` import strings) as ``callbacks=[...]``. Each event
receives one :class:`TrainingHubContext`; setting a flag on ``context.control``
steers the run at the next step boundary (stop, save now, evaluate now).

Backends fire events through a :class:`CallbackRunner`, which skips callbacks on
ranks other than 0 unless they set ``run_on_all_ranks = True`` and reports a
callback that raises once, with its name and traceback, without stopping the run.
A backend builds one context per run with :func:`context_for_run` and updates its
fields before each event (no allocation per step). This module imports nothing
heavy: ``th info`` and ``import training_hub`` stay light.
"""

from __future__ import annotations

import importlib
import logging
import math
import pickle
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ._errors import ParameterError

__all__ = [
    "EVENTS",
    "CallbackRunner",
    "EarlyStopping",
    "TrainingHubCallback",
    "TrainingHubContext",
    "TrainingHubControl",
    "check_deliverable",
    "check_portable",
    "context_for_run",
    "resolve_callbacks",
]

logger = logging.getLogger("training_hub")

#: Every event, in the order a run fires them.
EVENTS: Final = (
    "on_train_begin",
    "on_epoch_begin",
    "on_step_begin",
    "on_step_end",
    "on_log",
    "on_evaluate",
    "on_save",
    "on_epoch_end",
    "on_train_end",
)


@dataclass
class TrainingHubControl:
    """Flags a callback sets to steer the run; honoured at the next step boundary.

    The backend clears ``should_save`` and ``should_evaluate`` once it acted on
    them. ``should_training_stop`` ends the run (on every rank, after saving a
    checkpoint) and stays set.
    """

    should_training_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False


@dataclass
class TrainingHubContext:
    """The state of a run, as every event sees it (the same on every backend).

    ``metrics`` holds what the event is about: the logged record for ``on_log``,
    the evaluation results (``val_loss``...) for ``on_evaluate``. ``checkpoint``
    is the folder just written for ``on_save``; ``result`` is the backend's
    result object for ``on_train_end``.
    """

    step: int = 0
    epoch: int = 0
    loss: float | None = None
    learning_rate: float | None = None
    is_main_process: bool = True
    output_dir: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    control: TrainingHubControl = field(default_factory=TrainingHubControl)
    # Not in training_hub 0.11.2; there for trackers and tools.
    algorithm: str = ""
    backend: str = ""
    rank: int = 0
    world_size: int = 1
    total_steps: int | None = None
    checkpoint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    result: Any = None


class TrainingHubCallback:
    """Base class of callbacks: every event is a no-op until overridden.

    Set ``run_on_all_ranks = True`` to be called on every process of a
    multi-process run; by default only rank 0 calls a callback. A callback that
    runs in torchrun workers reaches them pickled, so it must be defined in an
    importable module (not ``__main__`` or a notebook cell).

    The context is one object per run, updated before each event: copy the values
    you keep (``context.metrics`` is a new dict each time).
    """

    run_on_all_ranks: bool = False
    #: True for observers that take whatever events a backend fires (the plugin bridge):
    #: a backend that cannot fire some event is not refused because of them.
    best_effort: bool = False

    def on_train_begin(self, context: TrainingHubContext) -> None:
        """After setup, before the first step."""

    def on_epoch_begin(self, context: TrainingHubContext) -> None:
        """At the start of each epoch."""

    def on_step_begin(self, context: TrainingHubContext) -> None:
        """Before each optimizer step's forward passes."""

    def on_step_end(self, context: TrainingHubContext) -> None:
        """After each optimizer step; ``context.loss`` is that step's loss."""

    def on_log(self, context: TrainingHubContext) -> None:
        """When a metrics record is written (``context.metrics``)."""

    def on_evaluate(self, context: TrainingHubContext) -> None:
        """After an evaluation; ``context.metrics`` holds ``val_loss`` and the others."""

    def on_save(self, context: TrainingHubContext) -> None:
        """After a complete checkpoint was written to ``context.checkpoint``."""

    def on_epoch_end(self, context: TrainingHubContext) -> None:
        """At the end of each epoch."""

    def on_train_end(self, context: TrainingHubContext) -> None:
        """After training ended; ``context.result`` is the result object."""


class EarlyStopping(TrainingHubCallback):
    """Stop when ``metric`` has not improved by ``min_delta`` for ``patience`` evaluations."""

    def __init__(
        self,
        metric: str = "val_loss",
        patience: int = 3,
        *,
        mode: Literal["min", "max"] = "min",
        min_delta: float = 0.0,
    ) -> None:
        if patience < 1:
            raise ParameterError(f"EarlyStopping(patience={patience}): patience must be >= 1.")
        if mode not in ("min", "max"):
            raise ParameterError(f"EarlyStopping(mode={mode!r}): mode must be 'min' or 'max'.")
        self.metric = metric
        self.patience = patience
        self.mode = mode
        self.min_delta = min_delta
        self.best: float | None = None
        self.evaluations_without_improvement = 0
        self.stopped_at_step: int | None = None

    def on_evaluate(self, context: TrainingHubContext) -> None:
        if self.metric not in context.metrics:
            raise KeyError(
                f"EarlyStopping watches '{self.metric}', but the evaluation reported only "
                f"{sorted(context.metrics)}"
            )
        value = float(context.metrics[self.metric])
        if math.isnan(value):
            improved = False
        elif self.best is None:
            improved = True
        elif self.mode == "min":
            improved = value < self.best - self.min_delta
        else:
            improved = value > self.best + self.min_delta
        if improved:
            self.best = value
            self.evaluations_without_improvement = 0
            return
        self.evaluations_without_improvement += 1
        if self.evaluations_without_improvement >= self.patience:
            context.control.should_training_stop = True
            self.stopped_at_step = context.step


CallbackSpec = TrainingHubCallback | type | str


def _import(spec: str) -> Any:
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ParameterError(
            f"Callback {spec!r} is not an import path: write it as 'package.module:ClassName'."
        )
    try:
        value: Any = importlib.import_module(module_name.strip())
        for part in attribute.strip().split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ParameterError(
            f"Callback {spec!r} cannot be imported ({type(exc).__name__}: {exc}). Check the "
            "module is installed or on PYTHONPATH and the class name is spelled right."
        ) from None
    return value


def resolve_callbacks(specs: Iterable[CallbackSpec] | CallbackSpec | None) -> list[Any]:
    """Callback instances from instances, classes (built with no arguments) or
    ``"pkg.mod:Class"`` strings; anything with none of the event methods is refused."""
    if specs is None:
        return []
    if isinstance(specs, (str, type, TrainingHubCallback)):
        specs = [specs]
    resolved = []
    for spec in specs:
        value = _import(spec) if isinstance(spec, str) else spec
        if isinstance(value, type):
            try:
                value = value()
            except TypeError as exc:
                raise ParameterError(
                    f"Callback class {value.__module__}.{value.__qualname__} cannot be built "
                    f"without arguments ({exc}); pass an instance instead."
                ) from None
        if not any(callable(getattr(value, event, None)) for event in EVENTS):
            raise ParameterError(
                f"{_what(spec, value)} is not a callback: it has none of the methods "
                f"{', '.join(EVENTS)}. "
                "Subclass training_hub.TrainingHubCallback."
            )
        resolved.append(value)
    return resolved


def _what(spec: Any, value: Any) -> str:
    """How a message names a callback spec: its import string as written, else the object."""
    return f"Callback {spec!r} ({type(value).__name__})" if isinstance(spec, str) else repr(value)


def check_portable(callbacks: Sequence[Any]) -> bytes:
    """The callbacks pickled for torchrun workers, or one :class:`ParameterError` saying
    which callback cannot reach them and how to fix that."""
    for callback in callbacks:
        cls = type(callback)
        where = f"{cls.__module__}.{cls.__qualname__}"
        if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
            raise ParameterError(
                f"Callback {where} is defined in __main__ (a script or a notebook cell) or "
                "inside a function, so the torchrun worker processes of this multi-process "
                "run cannot import it. Move the class into a module of its own (a .py file "
                "on PYTHONPATH) and import it from there."
            )
        try:
            pickle.dumps(callback)
        except Exception as exc:
            raise ParameterError(
                f"Callback {where} cannot be sent to the torchrun worker processes: "
                f"pickling it failed ({type(exc).__name__}: {exc}). Keep only picklable "
                "state on the instance (no open files, locks or clients; create those in "
                "on_train_begin)."
            ) from None
    return pickle.dumps(list(callbacks))


def _name(callback: Any) -> str:
    cls = type(callback)
    return f"{cls.__module__}.{cls.__qualname__}"


def _overrides(callback: Any, event: str) -> bool:
    """True when ``callback`` does something on ``event`` (not the base class's no-op)."""
    method = getattr(callback, event, None)
    if method is None or not callable(method):
        return False
    return getattr(method, "__func__", None) is not getattr(TrainingHubCallback, event)


def check_deliverable(callbacks: Sequence[Any], events: Iterable[str], backend: str) -> None:
    """One :class:`ParameterError` when a callback implements an event that ``backend``
    never fires (``events``): it would be silently ignored. Best-effort observers
    (``best_effort = True``, the plugin bridge) are not checked."""
    delivered = frozenset(events)
    problems = []
    for callback in callbacks:
        if getattr(callback, "best_effort", False):
            continue
        missing = [e for e in EVENTS if e not in delivered and _overrides(callback, e)]
        if missing:
            problems.append(f"{_name(callback)} implements {', '.join(missing)}")
    if problems:
        fired = ", ".join(e for e in EVENTS if e in delivered) or "none"
        raise ParameterError(
            f"The {backend} fires only these callback events: {fired}; "
            f"{'; '.join(problems)}, which would never be called. Use a backend that fires "
            "every event (the native backend does), or remove those methods."
        )


def context_for_run(
    params: Any,
    *,
    algorithm: str = "",
    backend: str = "",
    rank: int = 0,
    world_size: int = 1,
    total_steps: int | None = None,
) -> TrainingHubContext:
    """The one context of a run, filled from its validated parameters."""
    return TrainingHubContext(
        is_main_process=rank == 0,
        output_dir=str(getattr(params, "ckpt_output_dir", "") or ""),
        algorithm=algorithm,
        backend=backend,
        rank=rank,
        world_size=world_size,
        total_steps=total_steps,
        params=params.to_dict() if hasattr(params, "to_dict") else dict(params),
    )


class CallbackRunner:
    """Fires events on a run's callbacks; what backends and the engine call.

    ``is_main_process`` filters callbacks that do not ``run_on_all_ranks``. A
    callback that raises is reported once per callback and event (its name and
    the traceback) and the run goes on. The callbacks that implement each event
    are found once, here: an event nobody implements costs one dict lookup.
    """

    def __init__(self, callbacks: Sequence[Any], *, is_main_process: bool = True) -> None:
        self.callbacks = [
            c for c in callbacks if is_main_process or getattr(c, "run_on_all_ranks", False)
        ]
        self._methods: dict[str, list[tuple[Any, Any]]] = {
            event: [(c, getattr(c, event)) for c in self.callbacks if _overrides(c, event)]
            for event in EVENTS
        }
        self._reported: set[tuple[int, str, str]] = set()
        self.failures: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def wants(self, event: str) -> bool:
        """True when some callback implements ``event`` (to skip building its data)."""
        return bool(self._methods[event])

    def fire(self, event: str, context: TrainingHubContext) -> None:
        methods = self._methods.get(event)
        if methods is None:
            raise ValueError(f"unknown callback event {event!r}")
        for callback, method in methods:
            try:
                method(context)
            except Exception as exc:
                self._report(callback, event, context, exc)

    def _report(
        self, callback: Any, event: str, context: TrainingHubContext, exc: Exception
    ) -> None:
        # The plugin bridge names the plugin whose hook raised (``exc.callback_name``).
        name = getattr(exc, "callback_name", None) or f"callback {_name(callback)}"
        key = (id(callback), event, name)
        if key in self._reported:
            return
        self._reported.add(key)
        line = (
            f"{name} raised in {event} (step {context.step}); training goes on, later errors "
            f"of it in this event are not repeated:\n{traceback.format_exc().rstrip()}"
        )
        self.failures.append(line)
        logger.warning("training-hub: %s", line)
