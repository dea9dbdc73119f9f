"""What a wrapped library cannot do, written as data: a helper for backend plugins.

A :class:`Limit` names one parameter, the values the library honours and what
the library does instead. :func:`unhonoured` lists every parameter that was
*set* (explicitly, or to a non-default value) to a value the library cannot
honour. A parameter left at a default the library cannot honour follows the
library's own behaviour; the README lists each such difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._params import Params

__all__ = [
    "Limit",
    "explicit_params",
    "one_of",
    "rebuild_params",
    "require_cuda",
    "unhonoured",
]


@dataclass(frozen=True)
class Limit:
    """Parameter ``field`` is honoured only when ``honoured(value)`` is true."""

    field: str
    honoured: Callable[[Any], bool]
    library_does: str
    fix: str


def explicit_params(params: Params) -> set[str]:
    """Names given by the user, plus any whose value differs from the schema default."""
    names = set(params.model_fields_set)
    for name, field in type(params).model_fields.items():
        if field.is_required() or getattr(params, name) != field.get_default(
            call_default_factory=True
        ):
            names.add(name)
    return names


def unhonoured(params: Params, limits: Iterable[Limit], backend: str) -> list[str]:
    """One message per explicitly set parameter the library cannot honour."""
    explicit = explicit_params(params)
    problems = []
    for limit in limits:
        value = getattr(params, limit.field)
        if limit.field in explicit and not limit.honoured(value):
            problems.append(
                f"{limit.field}={value!r}: {limit.library_does}; {limit.fix}"
                f" (or choose another backend than '{backend}')"
            )
    return problems


def rebuild_params(schema: type[Params], values: Mapping[str, Any]) -> Params:
    """The schema instance for a plain dict, with only non-default values marked as set.

    ``execute_training`` receives a dict (defaults included); rebuilding it this
    way lets the same :func:`unhonoured` check run without treating every
    default as a user choice.
    """
    given = {}
    for name, value in values.items():
        field = schema.model_fields.get(name)
        if field is None or field.is_required():
            given[name] = value
        elif value != field.get_default(call_default_factory=True):
            given[name] = value
    return schema(**given)


def one_of(*choices: Any) -> Callable[[Any], bool]:
    """A predicate true for the given values only."""
    return lambda value: value in choices


def require_cuda(backend: str, algorithm: str) -> bool:
    """For backends whose library trains on CUDA only: True when the GPU supports bf16;
    a :class:`~training_hub.BackendUnavailableError` naming the way out without CUDA."""
    import torch

    from ._errors import BackendUnavailableError

    if not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"Backend '{backend}' needs a CUDA GPU and this machine has none "
            "(torch.cuda.is_available() is False). Train on a GPU machine, or use the native "
            f"backend: `th train {algorithm} --backend native ...` trains on CPU."
        )
    return bool(torch.cuda.is_bf16_supported())
