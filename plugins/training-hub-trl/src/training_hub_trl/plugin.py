"""Entry-point module of training-hub-trl: the ``trl`` backend of sft, and ``dpo``.

Light by design: everything is registered as import strings, so ``th list``
imports neither torch nor trl from here. A missing or too old trl shows the
backends as unavailable, with the pip command, through ``requires``.
"""

from __future__ import annotations

from training_hub import hookimpl

__all__ = ["TRAINING_HUB_PLUGIN_API", "register_algorithms", "register_backends"]

TRAINING_HUB_PLUGIN_API = 1
_REQUIRES = ["trl>=0.20", "transformers>=4.50", "datasets>=3.0", "torch>=2.5"]


@hookimpl
def register_algorithms(register):  # type: ignore[no-untyped-def]
    register(
        "dpo",
        "training_hub_trl.algorithm:DPOAlgorithm",
        default_backend="trl",
        description="Direct preference optimisation on prompt/chosen/rejected pairs.",
    )


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(
        "sft",
        "trl",
        "training_hub_trl.sft_backend:TRLSFTBackend",
        requires=_REQUIRES,
        description="Hugging Face TRL's SFTTrainer (padding-free), same parameters as native.",
    )
    register(
        "dpo",
        "trl",
        "training_hub_trl.dpo_backend:TRLDPOBackend",
        requires=_REQUIRES,
        description="Hugging Face TRL's DPOTrainer.",
    )
