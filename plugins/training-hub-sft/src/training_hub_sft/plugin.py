"""Entry-point module of training-hub-sft: registers ``sft`` and its ``native`` backend.

Light by design: both are registered as import strings, so ``th list`` imports
neither pydantic nor torch from here.
"""

from __future__ import annotations

from training_hub import hookimpl

__all__ = ["TRAINING_HUB_PLUGIN_API", "register_algorithms", "register_backends"]

TRAINING_HUB_PLUGIN_API = 1


@hookimpl
def register_algorithms(register):  # type: ignore[no-untyped-def]
    register(
        "sft",
        "training_hub_sft.algorithm:SFTAlgorithm",
        default_backend="native",
        description="Supervised fine-tuning of causal language models.",
    )


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(
        "sft",
        "native",
        "training_hub_sft.backend:NativeSFTBackend",
        requires=["torch>=2.5", "transformers>=4.50"],
        description="training-hub's engine: packing, FSDP2, torchrun.",
    )
