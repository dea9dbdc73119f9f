"""``EmbeddingResult``: what an embedding_sft run returns, on every backend."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EmbeddingResult"]


@dataclass
class EmbeddingResult:
    """The fine-tuned model's folder, the loss per step and the retrieval metrics.

    Keys of training_hub 0.11.2's result dict (``status``, ``model_path``,
    ``num_samples``, ``num_epochs``, ``loss``) are fields here and can be read as
    ``result["model_path"]`` as well.
    """

    status: str
    model_path: str
    num_samples: int
    num_epochs: int
    #: The loss trained with: its loss_type name, or "custom (<name>)".
    loss: str
    backend: str
    global_step: int
    final_loss: float | None
    #: The training loss of every optimizer step.
    losses: list[float] = field(default_factory=list)
    #: Retrieval metrics on eval_data_path before and after training (empty without it).
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)
    #: Training examples per second over the optimizer steps (evaluation and saving excluded).
    examples_per_second: float = 0.0
    #: Texts longer than the token limit, truncated (counted, never silent).
    truncated_texts: int = 0
    stopped_early: bool = False

    def __getitem__(self, key: str) -> Any:
        if key not in {f.name for f in dataclasses.fields(self)}:
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
