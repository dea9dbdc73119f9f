"""``GRPOAlgorithm`` and ``LoRAGRPOAlgorithm``: the algorithms and their one schema each."""

from __future__ import annotations

from training_hub import Algorithm

from .params import GRPOParams, LoRAGRPOParams

__all__ = ["GRPOAlgorithm", "LoRAGRPOAlgorithm"]


class GRPOAlgorithm(Algorithm):
    """GRPO: sample groups of completions, score them with reward functions, reinforce."""

    params_schema = GRPOParams
    default_backend = "native"
    description = "GRPO reinforcement learning from reward functions (every weight trains)."


class LoRAGRPOAlgorithm(Algorithm):
    """GRPO on LoRA adapters of a frozen model; checkpoints hold the peft adapter."""

    params_schema = LoRAGRPOParams
    default_backend = "native"
    description = "GRPO reinforcement learning from reward functions on LoRA adapters (peft)."
