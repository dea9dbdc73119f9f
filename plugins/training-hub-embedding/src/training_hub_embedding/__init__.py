"""The embedding_sft plugin distribution of training-hub: contrastive fine-tuning of
sentence-embedding models, on a packed native backend or on sentence-transformers.

``embedding_sft(...)`` takes the parameters of training_hub 0.11.2's function of that name.
"""

from __future__ import annotations

from typing import Any

__all__ = ["embedding_sft"]


def embedding_sft(*, backend: str | None = None, **params: Any) -> Any:
    """Contrastive fine-tuning: ``embedding_sft(model_path=..., data_path=...,
    ckpt_output_dir=..., loss_type="mnrl")``; ``th info embedding_sft`` lists every parameter."""
    from training_hub import train

    return train("embedding_sft", backend, **params)
