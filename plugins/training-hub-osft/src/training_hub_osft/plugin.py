"""Entry-point module of training-hub-osft: registers ``osft`` and its ``native`` backend.

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
        "osft",
        "training_hub_osft.algorithm:OSFTAlgorithm",
        default_backend="native",
        description="Orthogonal subspace fine-tuning: learn new tasks while keeping the "
        "top singular directions of every weight matrix fixed (continual learning).",
    )


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(
        "osft",
        "native",
        "training_hub_osft.backend:NativeOSFTBackend",
        requires=["torch>=2.5", "transformers>=4.50"],
        description="training-hub's engine: dense weights with projected gradients and "
        "updates; packing, FSDP2, torchrun.",
    )
