"""``LoRAAlgorithm`` and its schema: the engine's TrainingParams plus the LoRA fields."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from training_hub import Algorithm
from training_hub.training_params import TrainingParams

__all__ = ["DEFAULT_TARGET_MODULES", "LoRAAlgorithm", "LoRAParams"]

#: Attention and MLP projections of Llama-style models (Llama, Mistral, Qwen, Granite...).
DEFAULT_TARGET_MODULES = (
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
)


class LoRAParams(TrainingParams):
    """Train low-rank adapters on a frozen model (LoRA); QLoRA with ``load_in_4bit``."""

    # Adapters train best with a higher rate than full fine-tuning (peft and TRL use 2e-4).
    learning_rate: float = TrainingParams.field_with_default("learning_rate", 2e-4)
    lora_r: int = Field(16, ge=1, description="Rank of the LoRA update matrices.")
    lora_alpha: float = Field(
        32.0, gt=0, description="LoRA scaling numerator: the update is scaled by alpha / r."
    )
    lora_dropout: float = Field(
        0.0, ge=0, lt=1, description="Dropout on the input of the LoRA branch."
    )
    target_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TARGET_MODULES),
        description="Names (suffixes) of the linear layers that get adapters; default: "
        "attention and MLP projections.",
    )
    load_in_4bit: bool = Field(
        False, description="QLoRA: load the frozen base model in 4-bit NF4 (needs a CUDA GPU "
        "and bitsandbytes)."
    )
    merge_adapter: bool = Field(
        False, description="Also write the merged full model (base + adapter) into "
        "merged/ of each checkpoint."
    )

    advanced: ClassVar[frozenset[str]] = TrainingParams.advanced | {"lora_dropout"}

    @field_validator("target_modules")
    @classmethod
    def _non_empty_targets(cls, value: list[str]) -> list[str]:
        if not value or any(not name.strip() for name in value):
            raise ValueError("target_modules must list at least one non-empty module name")
        return value


class LoRAAlgorithm(Algorithm):
    """LoRA: only the adapter matrices train; checkpoints hold the adapter in peft format."""

    params_schema = LoRAParams
    default_backend = "native"
    description = "LoRA / QLoRA adapters (peft) on a frozen causal language model."
