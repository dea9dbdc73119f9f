"""``SFTAlgorithm``: supervised fine-tuning; its schema is the engine's TrainingParams."""

from __future__ import annotations

from training_hub import Algorithm
from training_hub.training_params import TrainingParams

__all__ = ["SFTAlgorithm", "SFTParams"]


class SFTParams(TrainingParams):
    """Parameters of sft: exactly those of the native engine."""


class SFTAlgorithm(Algorithm):
    """Supervised fine-tuning of a causal language model on chat or text data."""

    params_schema = SFTParams
    default_backend = "native"
    description = "Supervised fine-tuning of causal language models."
