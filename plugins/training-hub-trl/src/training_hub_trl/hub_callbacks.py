"""training-hub callbacks on TRL: one ``TrainerCallback`` that fires our events and
turns our control flags into the trainer's.

transformers calls it at its own events; it fills the same context fields as the
native engine (``step`` = optimizer steps done, ``epoch`` = the 0-based epoch,
``loss``, ``learning_rate``, ``metrics`` with the engine's names: ``lr``,
``val_loss``...). ``should_training_stop`` also saves a checkpoint, as on the
native engine; ``should_evaluate`` is honoured when the trainer has evaluation
data (else noted once). On one process a flag is honoured at the boundary of
the step it was set in; on several, the flags are summed over the ranks at each
step's end (one small collective) and honoured there, so that every rank stops
at the same step; a flag set after that (in ``on_log``) counts at the next step.

Imported only when training (torch, transformers).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from training_hub.callbacks import CallbackRunner, context_for_run

__all__ = ["HubCallbacks", "ended_epoch", "hub_metrics", "log_record"]

logger = logging.getLogger("training_hub")


#: transformers' per-step log names -> the native engine's names for the same numbers.
_ENGINE_NAMES = {
    "learning_rate": "lr",
    "train_tokens_per_second": "tokens_per_second",
    "train_runtime": "elapsed_s",
}


def hub_metrics(logs: dict[str, Any]) -> dict[str, Any]:
    """transformers' log names as the native engine writes them (``learning_rate`` ->
    ``lr``, ``train_tokens_per_second`` -> ``tokens_per_second``, ``train_runtime`` ->
    ``elapsed_s``, ``eval_loss`` -> ``val_loss``)."""
    named: dict[str, Any] = {}
    for key, value in logs.items():
        if key in _ENGINE_NAMES:
            key = _ENGINE_NAMES[key]
        elif key.startswith("eval_"):
            key = "val_" + key.removeprefix("eval_")
        named[key] = value
    return named


def ended_epoch(state: Any) -> int:
    """The 0-based epoch of the step just done (the native engine's ``epoch``): transformers'
    ``state.epoch`` counts epochs done, 1.0 at the end of the first."""
    return max(0, math.ceil(float(state.epoch or 0)) - 1)


def log_record(logs: dict[str, Any], state: Any) -> dict[str, Any]:
    """A training log of transformers as the native engine's metrics.jsonl record: its
    names, ``step``, the 0-based ``epoch`` and ``tokens`` seen."""
    return {**hub_metrics(logs), "step": state.global_step, "epoch": ended_epoch(state),
            "tokens": state.num_input_tokens_seen}


class HubCallbacks(TrainerCallback):  # type: ignore[misc]
    """Fires training-hub events on ``callbacks`` from a transformers Trainer."""

    def __init__(
        self,
        callbacks: Sequence[Any],
        params: Any,
        *,
        algorithm: str,
        backend: str,
        can_evaluate: bool = False,
    ) -> None:
        rank = int(os.environ.get("RANK", "0"))
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.runner = CallbackRunner(callbacks, is_main_process=rank == 0)
        self.context = context_for_run(params, algorithm=algorithm, backend=backend,
                                       rank=rank, world_size=world_size)
        self.can_evaluate = can_evaluate
        self.stopped_early = False
        self._noted_no_evaluation = False
        self._last_loss: float | None = None

    # --- transformers' events -> ours ------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.context.total_steps = state.max_steps
        self._fire("on_train_begin", state, control)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._fire("on_epoch_begin", state, control)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._fire("on_step_begin", state, control)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.runner.wants("on_step_end"):
            self.context.metrics = {"loss": self._last_loss}
        self._fire("on_step_end", state, control, ended=True)
        if self.context.world_size > 1:
            self._agree_across_ranks()
            self._apply(state, control)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or "loss" not in logs:
            return  # evaluation logs go to on_evaluate; the summary line has train_loss
        record = log_record(logs, state)
        self._last_loss = float(logs["loss"])
        self.context.metrics = record
        self._fire("on_log", state, control, ended=True)

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.context.metrics = {**hub_metrics(metrics or {}), "step": state.global_step,
                                "epoch": ended_epoch(state)}
        self._fire("on_evaluate", state, control, ended=True)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if not folder.is_dir():
            return  # a save that only wrote checkpoints/best (save_best_metric, evaluation.py)
        self.context.checkpoint = str(folder)
        self._fire("on_save", state, control, ended=True)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._fire("on_epoch_end", state, control, ended=True)

    def finish(self, result: Any) -> None:
        """``on_train_end`` with the backend's result (after ``trainer.train`` returned)."""
        self.context.result = result
        if self.runner.wants("on_train_end"):
            self.runner.fire("on_train_end", self.context)

    # --- helpers -----------------------------------------------------------------------

    def _fire(self, event: str, state: Any, control: Any, *, ended: bool = False) -> None:
        """Fire ``event``; ``ended``: after a step (its epoch is the one it belonged to)."""
        if not self.runner.wants(event):
            return
        context = self.context
        context.step = int(state.global_step)
        context.epoch = ended_epoch(state) if ended else math.floor(float(state.epoch or 0))
        context.loss = self._last_loss
        context.learning_rate = _learning_rate(state)
        self.runner.fire(event, context)
        if self.context.world_size <= 1:
            self._apply(state, control)

    def _agree_across_ranks(self) -> None:
        """Several processes: every rank takes the flags any rank set (one small
        collective per step, only then)."""
        if self.context.world_size <= 1:
            return
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        hub = self.context.control
        flags = torch.tensor([hub.should_training_stop, hub.should_save, hub.should_evaluate],
                             dtype=torch.float32)
        if dist.get_backend() == "nccl":
            flags = flags.cuda()
        dist.all_reduce(flags)
        stop, save, evaluate = (bool(v > 0) for v in flags.tolist())
        hub.should_training_stop, hub.should_save, hub.should_evaluate = stop, save, evaluate

    def _apply(self, state: Any, control: Any) -> None:
        """Our flags -> the trainer's; it acts on them at this step's boundary."""
        hub = self.context.control
        if hub.should_training_stop and not control.should_training_stop:
            control.should_training_stop = True
            control.should_save = True  # as on the native engine: stop after a checkpoint
            self.stopped_early = state.global_step < state.max_steps
        if hub.should_save:
            control.should_save = True
            hub.should_save = False
        if hub.should_evaluate:
            hub.should_evaluate = False
            if self.can_evaluate:
                control.should_evaluate = True
            elif not self._noted_no_evaluation:
                self._noted_no_evaluation = True
                logger.info("training-hub: a callback asked for an evaluation, but this run "
                            "has no validation data (validation_split, eval_data_path)")


def _learning_rate(state: Any) -> float | None:
    for record in reversed(state.log_history or []):
        if "learning_rate" in record:
            return float(record["learning_rate"])
    return None
