"""``create_algorithm`` and ``train``, which the one-call functions (``sft(...)``...) call.

The public functions themselves are generated from the schemas in ``_public``.

With no backend named, the algorithm's declared default backend is used when it
can run; otherwise the first runnable backend in alphabetical order.
"""

from __future__ import annotations

from typing import Any

from ._algorithm import Algorithm
from ._algorithm_registry import AlgorithmRegistry
from ._errors import BackendNotFoundError, BackendUnavailableError

__all__ = [
    "choose_backend",
    "create_algorithm",
    "train",
]


def choose_backend(algorithm_name: str) -> str:
    """The backend ``create_algorithm`` uses when none is named."""
    entries = AlgorithmRegistry.backend_entries(algorithm_name)
    if not entries:
        raise BackendNotFoundError(
            f"Algorithm '{algorithm_name}' has no backend installed. Install a plugin "
            f"distribution that adds one (e.g. pip install training-hub-{algorithm_name}), "
            "then check `th list`."
        )
    default = AlgorithmRegistry.algorithm_entry(algorithm_name).default_backend
    order = sorted(entries)
    if default in entries:
        order.remove(default)
        order.insert(0, default)
    for name in order:
        if entries[name].problem() is None:
            return name
    problems = "; ".join(f"'{n}': {entries[n].problem()}" for n in order)
    raise BackendUnavailableError(
        f"No backend of '{algorithm_name}' can run here: {problems}"
    )


def create_algorithm(
    algorithm_name: str, backend_name: str | None = None, **kwargs: Any
) -> Algorithm:
    """Create an algorithm instance bound to a backend instance.

    ``kwargs`` are parameters kept by the algorithm and merged with those given
    to ``train()``.
    """
    algorithm_class = AlgorithmRegistry.get_algorithm(algorithm_name)
    if backend_name is None:
        backend_name = choose_backend(algorithm_name)
    backend_class = AlgorithmRegistry.get_backend(algorithm_name, backend_name)
    backend = backend_class()
    # The names the callbacks' context and the backend's messages report.
    backend.algorithm_name = algorithm_name
    backend.backend_name = backend_name
    return algorithm_class(backend=backend, **kwargs)


def train(algorithm_name: str, backend: str | None = None, **params: Any) -> Any:
    """Validate ``params`` and train ``algorithm_name`` with ``backend``; return its result.

    ``callbacks=[...]`` is one of the parameters (every schema has it).
    """
    return create_algorithm(algorithm_name, backend).train(**params)

