"""The native training engine: ``train(params, adapter=None) -> TrainResult`` and ``dry_run``.

Importing this package is light: torch and transformers load only when
:func:`train` or :func:`dry_run` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .adapter import ModelAdapter
from .signals import INTERRUPTED_EXIT_CODE, TrainingInterrupted

if TYPE_CHECKING:
    from .recipe import TrainResult, dry_run, train

__all__ = [
    "INTERRUPTED_EXIT_CODE",
    "ModelAdapter",
    "TrainResult",
    "TrainingInterrupted",
    "dry_run",
    "train",
]

_LAZY = {"TrainResult", "dry_run", "train"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import recipe

        return getattr(recipe, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
