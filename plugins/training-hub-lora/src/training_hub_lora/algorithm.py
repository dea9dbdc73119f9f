"""``LoRAAlgorithm`` and its schema: the engine's TrainingParams plus the LoRA fields."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

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
    # --- training_hub 0.11.2's lora_sft quantization and model options -------------------
    load_in_8bit: bool = Field(
        False, description="Load the frozen base model in 8-bit (bitsandbytes LLM.int8; needs "
        "a CUDA GPU and bitsandbytes). Not with load_in_4bit."
    )
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = Field(
        "nf4", description="4-bit data type of the base weights with load_in_4bit."
    )
    bnb_4bit_compute_dtype: Literal["bfloat16", "float16", "float32"] = Field(
        "bfloat16", description="Compute dtype of the 4-bit layers with load_in_4bit."
    )
    bnb_4bit_use_double_quant: bool = Field(
        True, description="Also quantize the 4-bit quantization constants (load_in_4bit)."
    )
    enable_model_splitting: bool = Field(
        False, description="training_hub 0.11.2's device_map='balanced' (one process over "
        "several GPUs). The native engine shards instead: True is an error that says to use "
        "nproc_per_node (FSDP2)."
    )
    finetune_vision_layers: bool = Field(
        False, description="Vision-language models: also adapt the vision encoder. The native "
        "engine trains causal language models, so True is an error."
    )
    finetune_language_layers: bool = Field(
        True, description="Adapt the language model's layers (the only ones the native engine "
        "trains; False is an error)."
    )
    merge_adapter: bool = Field(
        False, description="Also write the merged full model (base + adapter) into "
        "merged/ of each checkpoint."
    )

    advanced: ClassVar[frozenset[str]] = TrainingParams.advanced | {
        "lora_dropout", "bnb_4bit_quant_type", "bnb_4bit_compute_dtype",
        "bnb_4bit_use_double_quant", "enable_model_splitting", "finetune_vision_layers",
        "finetune_language_layers",
    }

    @model_validator(mode="after")
    def _check_peer_options(self) -> LoRAParams:
        problems = []
        if self.load_in_4bit and self.load_in_8bit:
            problems.append("load_in_4bit and load_in_8bit both ask for a quantized base: set one")
        bnb_set = [name for name in ("bnb_4bit_quant_type", "bnb_4bit_compute_dtype",
                                     "bnb_4bit_use_double_quant")
                   if getattr(self, name) != type(self).model_fields[name].default]
        if not self.load_in_4bit and bnb_set:
            problems.append(f"{', '.join(bnb_set)} apply only with load_in_4bit=True (QLoRA)")
        if self.enable_model_splitting:
            problems.append(
                "enable_model_splitting=True (one process spread over several GPUs) is not how "
                "the native engine scales: set nproc_per_node to the number of GPUs and FSDP2 "
                "shards the model across them"
            )
        if self.finetune_vision_layers:
            problems.append(
                "finetune_vision_layers=True: the native lora backend trains causal language "
                "models and has no vision encoder to adapt"
            )
        if not self.finetune_language_layers:
            problems.append(
                "finetune_language_layers=False leaves nothing to train on a causal language "
                "model"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

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
