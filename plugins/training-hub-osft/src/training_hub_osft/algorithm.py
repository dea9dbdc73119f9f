"""``OSFTAlgorithm`` and ``OSFTParams``: the sft parameters plus the two OSFT settings."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from training_hub import Algorithm
from training_hub.training_params import TrainingParams

__all__ = ["DEFAULT_TARGET_PATTERNS", "OSFTAlgorithm", "OSFTParams"]

#: Attention and MLP projections of Llama, Qwen, Mistral, Granite and Gemma models.
DEFAULT_TARGET_PATTERNS: tuple[str, ...] = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)


class OSFTParams(TrainingParams):
    """Orthogonal subspace fine-tuning: every sft parameter plus the subspace settings."""

    unfreeze_rank_ratio: float = Field(
        gt=0,
        le=1,
        description="Share of each targeted matrix's singular directions that may change, "
        "taken from the smallest singular values (0 < r <= 1). The rest (the top "
        "1 - r share) stays exactly as in the base model. 1.0 is full fine-tuning; "
        "0.1-0.5 is typical for continual learning.",
    )
    target_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TARGET_PATTERNS),
        description="Linear modules to constrain, by substring of their name (e.g. "
        "'self_attn.q_proj'). Default: the attention and MLP projections "
        "(q/k/v/o_proj, gate/up/down_proj). Embeddings, norms and the LM head are never "
        "constrained; parameters outside the targets train as in sft.",
    )

    @field_validator("target_patterns", mode="before")
    @classmethod
    def _default_when_none(cls, value: Any) -> Any:
        # training-hub's osft() passes target_patterns=None to mean "the default list".
        return list(DEFAULT_TARGET_PATTERNS) if value is None else value

    @field_validator("target_patterns")
    @classmethod
    def _non_empty_patterns(cls, value: list[str]) -> list[str]:
        if not value or any(not pattern.strip() for pattern in value):
            raise ValueError(
                "give at least one non-empty module-name pattern, e.g. ['self_attn.q_proj'], "
                "or leave target_patterns unset for the default projections"
            )
        return value


class OSFTAlgorithm(Algorithm):
    """Fine-tune a causal LM while keeping each weight matrix's top singular subspace fixed."""

    params_schema = OSFTParams
    default_backend = "native"
    description = (
        "Orthogonal subspace fine-tuning (Nayak et al. 2025): learn a new task without "
        "forgetting, by training only the low-singular-value part of each weight matrix."
    )
