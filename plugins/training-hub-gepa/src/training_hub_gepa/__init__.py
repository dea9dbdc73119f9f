"""The gepa plugin distribution of training-hub: prompt optimisation by reflective evolution.

``training_hub.train("gepa", ...)`` (or ``th train gepa``) runs the gepa library's
search with local Hugging Face models, OpenAI-compatible endpoints or Python
callables as language models, and returns a :class:`GEPARunResult`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lm import LanguageModelError
    from .result import GEPARunResult

__all__ = ["GEPARunResult", "LanguageModelError"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package (the entry point's parent) stays light.
    if name == "GEPARunResult":
        from .result import GEPARunResult

        return GEPARunResult
    if name == "LanguageModelError":
        from .lm import LanguageModelError

        return LanguageModelError
    raise AttributeError(f"module 'training_hub_gepa' has no attribute {name!r}")
