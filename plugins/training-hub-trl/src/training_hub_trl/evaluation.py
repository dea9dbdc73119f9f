"""Evaluation, the best checkpoint and remote checkpoint storage on the trl backends.

The same parameters as the native engine, with the same meaning:

- ``validation_split`` / ``eval_data_path``: the trainer's ``eval_dataset`` (the
  held-out samples are those the native engine holds out: same seed, same split).
- Evaluation every ``validation_frequency`` steps (``eval_strategy='steps'``), at
  each epoch end and after the last step (:class:`EvaluationRules`), once per step.
- ``val_loss`` of sft is the token-mean cross-entropy over every loss token of the
  validation set, summed over the ranks (:func:`token_mean_loss`), as the native
  engine computes it; transformers' own ``eval_loss`` is a mean of batch means.
  dpo reports TRL's own evaluation (``val_loss`` is the mean DPO loss of the
  held-out pairs, with ``val_rewards/...``).
- ``save_best_metric``: ``checkpoints/best`` is a complete TRL checkpoint (resumable
  by path) with ``best.json``, as on the native engine. A new best at a step that
  saves anyway is hard-linked from ``checkpoint-<N>``; at another step it is saved
  aside and moved there, so no extra ``checkpoint-<N>`` appears.
- ``checkpoint_storage``: every ``checkpoint-<N>`` (given a ``checkpoint.json``
  marker once complete) and ``best`` are mirrored by the engine's
  :class:`~training_hub.engine.storage.CheckpointMirror`, in TRL's layout;
  ``resume='latest'`` takes the newest complete one locally or in the storage.

Imported only when training (torch, transformers).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from training_hub.engine import checkpoint as engine_checkpoint
from training_hub.engine.evaluation import BestCheckpoint, read_best, write_best_checkpoint
from training_hub.engine.storage import CheckpointMirror, fetch_if_newer, open_mirror
from training_hub.training_params import TrainingParams

from .hub_callbacks import ended_epoch

__all__ = [
    "EvaluationRules",
    "StorageMirror",
    "evaluating_trainer",
    "fetch_latest",
    "has_validation",
    "open_storage",
    "setup_best",
    "token_mean_loss",
]

logger = logging.getLogger("training_hub")

#: What a complete TRL checkpoint holds that a model-only folder does not.
TRL_RESUMABLE_FILE = "optimizer.pt"


def has_validation(params: TrainingParams) -> bool:
    return params.validation_split > 0 or params.eval_data_path is not None


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


# --- val_loss ------------------------------------------------------------------------


def token_mean_loss(trainer: Any, dataset: Any) -> dict[str, float]:
    """``{"loss", "num_tokens", "num_samples"}`` of the trainer's model on ``dataset``
    (rows of ``input_ids`` and unshifted ``labels``): the cross-entropy summed over every
    loss token of every rank's share, divided by their number.

    Rank ``r`` takes samples ``r, r + world, ...`` in batches of
    ``per_device_eval_batch_size`` through the trainer's collator (padding-free rows);
    every rank runs as many forwards (a discarded one where short), so sharded models
    stay in lockstep.
    """
    rank, world = _rank_and_world()
    size = max(1, int(trainer.args.per_device_eval_batch_size))
    mine = list(range(rank, len(dataset), world))
    batches = [mine[i : i + size] for i in range(0, len(mine), size)]
    most = math.ceil(math.ceil(len(dataset) / world) / size)
    model = trainer.model
    device = trainer.args.device
    totals = torch.zeros(2, dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for index in range(most):
                real = index < len(batches)
                rows = [dataset[i] for i in (batches[index] if real else [0])]
                features = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]
                batch = trainer._prepare_inputs(trainer.data_collator(features))
                labels = batch.pop("labels")
                with trainer.compute_loss_context_manager():
                    logits = model(**batch, use_cache=False).logits
                targets = labels[:, 1:]
                summed = F.cross_entropy(
                    logits[:, :-1].float().flatten(0, 1), targets.flatten(),
                    ignore_index=-100, reduction="sum",
                )
                if real:
                    totals[0] += summed.double()
                    totals[1] += int((targets != -100).sum())
    finally:
        model.train(was_training)
    if world > 1:
        torch.distributed.all_reduce(totals)
    loss_sum, tokens = totals.tolist()
    return {"loss": loss_sum / tokens if tokens else math.nan, "num_tokens": int(tokens),
            "num_samples": len(dataset)}


# --- the trainer: evaluation and the best checkpoint ----------------------------------------


def evaluating_trainer(trainer_class: type, *, token_mean: bool) -> type:
    """A subclass of ``trainer_class`` that (``token_mean``) evaluates ``val_loss`` with
    :func:`token_mean_loss`, and keeps ``checkpoints/best`` when ``hub_best`` is set."""

    class _Trainer(trainer_class):  # type: ignore[misc, valid-type]
        #: save_best_metric's record (None: no best checkpoint); set by the backend.
        hub_best: BestCheckpoint | None = None
        hub_output_dir: Path | None = None
        hub_mirror: CheckpointMirror | None = None
        #: The step whose save writes checkpoints/best, and whether only that (no
        #: checkpoint-<N> was due at it).
        hub_best_pending: int | None = None
        hub_best_only: bool = False

        def evaluate(
            self, eval_dataset: Any = None, ignore_keys: Any = None,
            metric_key_prefix: str = "eval",
        ) -> dict[str, float]:
            if not token_mean:
                return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
            dataset = self.eval_dataset if eval_dataset is None else eval_dataset
            metrics = {f"{metric_key_prefix}_{key}": value
                       for key, value in token_mean_loss(self, dataset).items()}
            self.log(dict(metrics))  # log() adds epoch and tokens to what it is given
            self.control = self.callback_handler.on_evaluate(
                self.args, self.state, self.control, metrics
            )
            return metrics

        def _determine_best_metric(self, metrics: dict[str, float], trial: Any) -> bool:
            """A lower ``eval_loss`` than the best so far: save this step (``_save_checkpoint``
            then writes checkpoints/best). Every rank decides alike (the loss is reduced)."""
            best = self.hub_best
            value = metrics.get("eval_loss")
            if best is None or value is None or not best.improves(float(value)):
                return False
            best.value, best.step = float(value), int(self.state.global_step)
            self.hub_best_pending, self.hub_best_only = best.step, not self.control.should_save
            self.control.should_save = True
            return True

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            step = int(self.state.global_step)
            root = Path(self.args.output_dir)
            if self.hub_best_pending != step:
                super()._save_checkpoint(model, trial)
                self._mark_complete(root / f"{PREFIX_CHECKPOINT_DIR}-{step}")
                return
            self.hub_best_pending = None
            if not self.hub_best_only:
                super()._save_checkpoint(model, trial)
                saved = root / f"{PREFIX_CHECKPOINT_DIR}-{step}"
                self._mark_complete(saved)
                self._write_best(saved)
                return
            aside = root / f".tmp-best-save-{os.getpid()}"  # no checkpoint-<N> of this step
            output_dir = self.args.output_dir
            self.args.output_dir = str(aside)
            try:
                super()._save_checkpoint(model, trial)
            finally:
                self.args.output_dir = output_dir
            saved = aside / f"{PREFIX_CHECKPOINT_DIR}-{step}"
            self._mark_complete(saved)
            self._write_best(saved)
            if self.is_world_process_zero():
                shutil.rmtree(aside, ignore_errors=True)

        def _mark_complete(self, folder: Path) -> None:
            """The engine's completion marker, written once the folder is whole (rank 0);
            the storage mirror uploads it last."""
            if self.is_world_process_zero() and folder.is_dir():
                marker = {"step": int(self.state.global_step), "epoch_end": False,
                          "format": 1, "layout": "trl"}
                (folder / engine_checkpoint.COMPLETE_MARKER).write_text(json.dumps(marker))

        def _write_best(self, saved: Path) -> None:
            best = self.hub_best
            if best is None or not self.is_world_process_zero():
                return
            assert self.hub_output_dir is not None
            path = write_best_checkpoint(self.hub_output_dir, best,
                                         epoch=ended_epoch(self.state), source=saved)
            logger.info("best checkpoint (%s %.4f, step %d): %s",
                        best.metric, best.value, best.step, path)
            if self.hub_mirror is not None:
                self.hub_mirror.submit_best(path, int(best.step or 0))

    _Trainer.__name__ = trainer_class.__name__
    _Trainer.__qualname__ = trainer_class.__qualname__
    return _Trainer


def setup_best(trainer: Any, params: TrainingParams, resume_from: str | None,
               mirror: CheckpointMirror | None) -> None:
    """Give ``trainer`` (an :func:`evaluating_trainer`) the run's best record and mirror."""
    trainer.hub_output_dir = Path(params.ckpt_output_dir)
    trainer.hub_mirror = mirror
    metric = params.save_best_metric
    if metric is not None:  # a resumed run goes on from the best so far
        trainer.hub_best = (read_best(params.ckpt_output_dir, metric) if resume_from
                            else BestCheckpoint(metric))


class EvaluationRules(TrainerCallback):  # type: ignore[misc]
    """Evaluate when the native engine would: every ``validation_frequency`` steps (the
    trainer's ``eval_steps``), at each epoch end and after the last step; once a step."""

    def __init__(self) -> None:
        self.evaluated_steps: set[int] = set()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step >= state.max_steps:
            control.should_evaluate = True

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        control.should_evaluate = state.global_step not in self.evaluated_steps

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.evaluated_steps.add(state.global_step)


# --- remote checkpoint storage ----------------------------------------------------------


class StorageMirror(TrainerCallback):  # type: ignore[misc]
    """Rank 0 submits each ``checkpoint-<N>`` the trainer saved to the mirror (in the
    background); the run closes it (bounded wait) when training ends."""

    def __init__(self, mirror: CheckpointMirror, params: TrainingParams) -> None:
        self.mirror = mirror
        self.timeout_s = params.checkpoint_upload_timeout

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if state.is_world_process_zero and (folder / engine_checkpoint.COMPLETE_MARKER).is_file():
            self.mirror.submit(folder, int(state.global_step))

    def close(self) -> None:
        self.mirror.close(self.timeout_s)


def open_storage(params: TrainingParams) -> CheckpointMirror | None:
    """Rank 0's mirror of a run with ``checkpoint_storage`` (checked writable; a fresh
    run refuses a storage holding an earlier run unless ``overwrite``), in TRL's layout."""
    if params.checkpoint_storage is None or _rank_and_world()[0] != 0:
        return None
    return open_mirror(params, prefix=PREFIX_CHECKPOINT_DIR)


def fetch_latest(params: TrainingParams, local: str | None) -> str | None:
    """``resume='latest'`` with ``checkpoint_storage``: the newest complete checkpoint,
    local or remote (downloaded first, with the remote best when there is none here)."""
    if params.checkpoint_storage is None or params.resume != "latest":
        return local
    found = fetch_if_newer(
        params.checkpoint_storage, params.ckpt_output_dir,
        Path(local) if local else None, prefix=PREFIX_CHECKPOINT_DIR,
        resumable_file=TRL_RESUMABLE_FILE,
    )
    return str(found) if found is not None else None
