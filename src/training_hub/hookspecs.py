"""Hook specifications: the whole contract between training-hub and its plugins.

A plugin is a module named by an entry point in the ``training_hub.algorithms``
group. It sets ``TRAINING_HUB_PLUGIN_API = 1`` and implements any of these hooks
with ``@training_hub.hookimpl``. Registration hooks receive a ``register``
callback; they are called once, when the plugin is first needed.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

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


@hookspec
def on_train_start(algorithm: str, backend: str, params: dict[str, Any]) -> None:
    """Called before a backend starts training, with the validated parameters."""


@hookspec
def on_log(step: int, metrics: dict[str, Any]) -> None:
    """Called on rank 0 each time the native engine writes a metrics line."""


@hookspec
def on_checkpoint(step: int, path: str) -> None:
    """Called on rank 0 after the native engine has written a complete checkpoint."""


@hookspec
def on_train_end(algorithm: str, backend: str, result: Any) -> None:
    """Called after training returned, with the backend's result object."""
