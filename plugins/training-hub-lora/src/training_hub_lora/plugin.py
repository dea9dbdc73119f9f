"""Entry-point module of training-hub-lora: registers ``lora`` and its ``native`` backend.

Light by design: both are registered as import strings, so ``th list`` imports
neither pydantic, torch nor peft from here.
"""

from __future__ import annotations

from training_hub import hookimpl

__all__ = ["TRAINING_HUB_PLUGIN_API", "register_algorithms", "register_backends"]

TRAINING_HUB_PLUGIN_API = 1


@hookimpl
def register_algorithms(register):  # type: ignore[no-untyped-def]
    register(
        "lora",
        "training_hub_lora.algorithm:LoRAAlgorithm",
        default_backend="native",
        description="LoRA / QLoRA adapters (peft) on a frozen causal language model.",
    )


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(
        "lora",
        "native",
        "training_hub_lora.backend:NativeLoRABackend",
        requires=["torch>=2.5", "transformers>=4.50", "peft>=0.13"],
        description="training-hub's engine with peft LoRA layers: packing, FSDP2, torchrun.",
    )
