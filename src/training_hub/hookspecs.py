"""Hook specifications: the whole contract between training-hub and its plugins.

A plugin is a module named by an entry point in the ``training_hub.algorithms``
group. It sets ``TRAINING_HUB_PLUGIN_API = 1`` and implements any of these hooks
with ``@training_hub.hookimpl``. Registration hooks receive a ``register``
callback; they are called once, when the plugin is first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from .callbacks import TrainingHubContext

__all__ = [
    "PROJECT_NAME",
    "RegisterAlgorithm",
    "RegisterBackend",
    "RegisterComponent",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME = "training_hub"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class RegisterAlgorithm(Protocol):
    def __call__(
        self,
        name: str,
        algorithm: type[Any] | str,
        *,
        default_backend: str | None = None,
        description: str | None = None,
    ) -> None: ...


class RegisterBackend(Protocol):
    def __call__(
        self,
        algorithm_name: str,
        backend_name: str,
        backend: type[Any] | str,
        *,
        requires: list[str] | tuple[str, ...] = (),
        requires_cuda: bool = False,
        description: str | None = None,
    ) -> None: ...


class RegisterComponent(Protocol):
    def __call__(self, registry: str, name: str, component: Any) -> None: ...


@hookspec
def register_algorithms(register: RegisterAlgorithm) -> None:
    """Register algorithms: ``register(name, AlgorithmClass or "pkg.mod:Class")``."""


@hookspec
def register_backends(register: RegisterBackend) -> None:
    """Register backends: ``register(algorithm, backend, BackendClass or "pkg.mod:Class",
    requires=["lib>=1.0"], requires_cuda=False, description="...")``; any algorithm, also
    one of another distribution."""


@hookspec
def register_components(register: RegisterComponent) -> None:
    """Register components: ``register("losses" | "optimizers" | "schedulers" |
    "data_formats", name, component)``."""


# --- training events: the callback events of ``training_hub.callbacks``, for every run -----
# An installed plugin implementing these observes every run of every algorithm and
# backend (an experiment tracker, say). Each receives the run's TrainingHubContext and may
# set its ``control`` flags, exactly as a TrainingHubCallback does.


@hookspec
def on_train_begin(context: TrainingHubContext) -> None:
    """After setup, before the first step."""


@hookspec
def on_epoch_begin(context: TrainingHubContext) -> None:
    """At the start of each epoch."""


@hookspec
def on_step_begin(context: TrainingHubContext) -> None:
    """Before each optimizer step."""


@hookspec
def on_step_end(context: TrainingHubContext) -> None:
    """After each optimizer step."""


@hookspec
def on_log(context: TrainingHubContext) -> None:
    """When a metrics record is written: ``context.metrics``."""


@hookspec
def on_evaluate(context: TrainingHubContext) -> None:
    """After an evaluation: ``context.metrics`` holds ``val_loss`` and the others."""


@hookspec
def on_save(context: TrainingHubContext) -> None:
    """After a complete checkpoint was written to ``context.checkpoint``."""


@hookspec
def on_epoch_end(context: TrainingHubContext) -> None:
    """At the end of each epoch."""


@hookspec
def on_train_end(context: TrainingHubContext) -> None:
    """After training ended: ``context.result`` is the backend's result object."""
