"""What both backends of embedding_sft share: the backend base class, the run's data
and its callback events (metrics.jsonl and the other trackers log what they report).

A backend receives the validated :class:`EmbeddingSFTParams` and the run's callbacks
(``run(params, callbacks)``); the old entry ``execute_training(dict)`` builds the
schema instance and calls ``run``.
"""

from __future__ import annotations

import logging
import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from training_hub import Backend, ParameterError
from training_hub.callbacks import EVENTS

from .algorithm import EmbeddingSFTParams
from .data import EmbeddingExamples, RetrievalTask, load_examples, prepare_for_loss, retrieval_task
from .losses import ResolvedLoss, resolve_loss
from .result import EmbeddingResult
from .sampling import SamplerName

__all__ = ["EmbeddingBackend", "RunData", "RunEvents", "load_run_data", "with_local_model"]

logger = logging.getLogger("training_hub.embedding")
ALGORITHM = "embedding_sft"


class EmbeddingBackend(Backend):
    """Base of the embedding_sft backends: they fire every callback event."""

    params_schema: ClassVar[type[EmbeddingSFTParams]] = EmbeddingSFTParams
    callback_events: ClassVar[frozenset[str]] = EVENTS

    @abstractmethod
    def run(self, params: Any, callbacks: Sequence[Any] = ()) -> EmbeddingResult:
        """Train with the validated parameters; fire the events on ``callbacks``."""

    def check_params(self, params: Any) -> None:
        sampler = resolve_sampler(params, resolve_loss(params))
        if sampler == "group_by_label" and (params.batch_size < 4 or params.batch_size % 2):
            raise ParameterError(
                f"batch_sampler 'group_by_label' draws two texts per label, so batch_size must "
                f"be an even number >= 4 (got {params.batch_size})."
            )


def with_local_model(params: EmbeddingSFTParams) -> EmbeddingSFTParams:
    """``params`` with a Hub id in ``model_path`` replaced by its folder in the Hub cache
    (downloaded when missing; one clear error when it cannot be had). Both backends
    call it first, so they train, and name in their checkpoints, the same files."""
    from training_hub.hub import resolve_model

    local = resolve_model(params.model_path)
    return params if local == params.model_path else params.model_copy(
        update={"model_path": local})


def resolve_sampler(params: EmbeddingSFTParams, loss: ResolvedLoss) -> SamplerName:
    """The batch sampler: the one asked for, else the one that suits the loss."""
    if params.batch_sampler is not None:
        if params.batch_sampler == "group_by_label" and loss.data == "pairs":
            raise ParameterError(
                f"batch_sampler 'group_by_label' needs labels, but loss '{loss.name}' trains on "
                "pairs; use 'no_duplicates' or 'default'."
            )
        return params.batch_sampler
    return "no_duplicates" if loss.data == "pairs" else "group_by_label"


@dataclass(frozen=True)
class RunData:
    """The training examples in the loss's shape and the evaluation task, if any."""

    loss: ResolvedLoss
    train: EmbeddingExamples
    evaluation: RetrievalTask | None
    sampler: SamplerName
    steps_per_epoch: int
    total_steps: int


def load_run_data(params: EmbeddingSFTParams, steps_per_epoch: Any) -> RunData:
    """Read and check the data of a run. ``steps_per_epoch(examples, sampler)`` says how
    many optimizer steps one epoch takes on this backend."""
    loss = resolve_loss(params)
    read = {"text_column": params.text_column, "label_column": params.label_column,
            "columns": params.columns}
    examples = load_examples(params.data_path, **read)
    train = prepare_for_loss(examples, loss.data, max_pairs_per_label=params.max_pairs_per_label,
                             seed=params.seed, loss_name=loss.name)
    evaluation = None
    if params.eval_data_path is not None:
        evaluation = retrieval_task(load_examples(params.eval_data_path, what="eval_data_path",
                                                  **read))
    sampler = resolve_sampler(params, loss)
    per_epoch = steps_per_epoch(train, sampler)
    total = params.max_steps or per_epoch * params.num_epochs
    return RunData(loss, train, evaluation, sampler, per_epoch, total)


def warmup_steps(params: EmbeddingSFTParams, total_steps: int) -> int:
    """Warmup steps as transformers counts them: ceil(ratio * total)."""
    return math.ceil(params.warmup_ratio * total_steps)


class RunEvents:
    """The run's one :class:`~training_hub.callbacks.TrainingHubContext` and its callbacks."""

    def __init__(self, callbacks: Sequence[Any], params: EmbeddingSFTParams, backend: str,
                 total_steps: int) -> None:
        from training_hub.callbacks import CallbackRunner, context_for_run

        self.runner = CallbackRunner(callbacks)
        self.context = context_for_run(params, algorithm=ALGORITHM, backend=backend,
                                       total_steps=total_steps)

    @property
    def control(self) -> Any:
        return self.context.control

    def fire(self, event: str, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self.context, name, value)
        self.runner.fire(event, self.context)


def prefixed(metrics: dict[str, float]) -> dict[str, float]:
    """Evaluation metrics as they are logged: ``eval_recall@1``..."""
    return {f"eval_{name}": value for name, value in metrics.items()}
