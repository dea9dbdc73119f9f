"""``TRLTrainResult``: what a TRL run reports, with the fields of the engine's TrainResult."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TRLTrainResult"]


@dataclass
class TRLTrainResult:
    """A finished sft/dpo run on TRL.

    ``last_checkpoint`` (``<ckpt_output_dir>/checkpoints/checkpoint-<N>``) is a
    complete Hugging Face model folder (weights, config, tokenizer) that also
    holds TRL's training state for ``resume``.
    """

    final_loss: float | None
    steps: int
    epochs: int  # epochs completed
    tokens: int  # input tokens seen (padding excluded), this run and the resumed ones
    elapsed_s: float
    tokens_per_second: float
    checkpoints: list[str] = field(default_factory=list)  # written by this run, still on disk
    last_checkpoint: str | None = None
    output_dir: str = ""
    metrics_path: str = ""
    #: The last logged metrics (for dpo e.g. ``rewards/accuracies``, ``rewards/margins``).
    last_metrics: dict[str, Any] = field(default_factory=dict)
    #: True when a callback stopped the run (control.should_training_stop) before the end.
    stopped_early: bool = False
    #: ``checkpoints/best`` (save_best_metric) when written, as on the native engine.
    best_checkpoint: str | None = None
    #: The last evaluation's metrics (``val_loss``...), when the run evaluated.
    last_evaluation: dict[str, Any] | None = None
