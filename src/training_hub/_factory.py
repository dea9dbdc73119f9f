"""``create_algorithm`` and the one-call training functions (``sft(...)``, ``osft(...)``...).

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
    "dpo",
    "lora",
    "osft",
    "sft",
    "train",
    "train_with_events",
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
    return algorithm_class(backend=backend_class(), **kwargs)


def train(algorithm_name: str, backend: str | None = None, **params: Any) -> Any:
    """Validate ``params`` and train ``algorithm_name`` with ``backend``; return its result."""
    backend_name = backend or choose_backend(algorithm_name)
    algorithm = create_algorithm(algorithm_name, backend_name)
    return train_with_events(algorithm, algorithm_name, backend_name, params)


def train_with_events(
    algorithm: Algorithm, algorithm_name: str, backend_name: str, params: dict[str, Any]
) -> Any:
    """``algorithm.train(**params)`` between the ``on_train_start``/``on_train_end`` hooks."""
    from ._plugins import plugin_manager

    events = plugin_manager()
    events.emit("on_train_start", algorithm=algorithm_name, backend=backend_name, params=params)
    result = algorithm.train(**params)
    events.emit("on_train_end", algorithm=algorithm_name, backend=backend_name, result=result)
    return result


def sft(*, backend: str | None = None, **params: Any) -> Any:
    """Supervised fine-tuning: ``sft(model_path=..., data_path=..., ckpt_output_dir=...)``."""
    return train("sft", backend, **params)


def osft(*, backend: str | None = None, **params: Any) -> Any:
    """Orthogonal subspace fine-tuning (needs ``unfreeze_rank_ratio``)."""
    return train("osft", backend, **params)


def lora(*, backend: str | None = None, **params: Any) -> Any:
    """LoRA adapters (peft) trained on the native engine."""
    return train("lora", backend, **params)


def dpo(*, backend: str | None = None, **params: Any) -> Any:
    """Direct preference optimisation on ``{"prompt", "chosen", "rejected"}`` records."""
    return train("dpo", backend, **params)
