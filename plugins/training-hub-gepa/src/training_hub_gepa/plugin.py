"""Entry-point module of training-hub-gepa: registers ``gepa`` and its ``gepa`` backend.

Light by design: both are registered as import strings, so ``th list`` imports
neither pydantic nor the gepa library from here.
"""

from __future__ import annotations

from training_hub import hookimpl

__all__ = ["TRAINING_HUB_PLUGIN_API", "register_algorithms", "register_backends"]

TRAINING_HUB_PLUGIN_API = 1

DESCRIPTION = "Prompt optimisation by reflective evolution (GEPA); changes text, not weights."


@hookimpl
def register_algorithms(register):  # type: ignore[no-untyped-def]
    register(
        "gepa",
        "training_hub_gepa.algorithm:GEPAAlgorithm",
        default_backend="gepa",
        description=DESCRIPTION,
    )


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(
        "gepa",
        "gepa",
        "training_hub_gepa.backend:GEPABackend",
        requires=["gepa>=0.1.4"],
        description="The gepa library's optimize(); local HF models, OpenAI-compatible "
        "endpoints or Python callables as language models.",
    )
