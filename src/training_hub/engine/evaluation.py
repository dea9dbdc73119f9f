"""Evaluation during training: ``val_loss`` on held-out or separate samples; the best checkpoint.

``val_loss`` is the token-mean cross-entropy over every loss token of the whole
validation set: each rank sums the cross-entropy of its share of the samples
(packed padding-free into micro-batches, masked exactly like training) and counts
its loss tokens, both sums are reduced across ranks, and the loss is their
quotient. It is always cross-entropy, whatever ``loss`` the run trains with.

The best checkpoint (``save_best_metric``) is ``checkpoints/best/``: a complete
checkpoint folder (loadable with ``from_pretrained``, resumable by path) with a
``best.json`` naming the metric, its value and the step. It lives beside the
``step-<N>`` folders, so ``keep_last_n`` never prunes it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._errors import DataError
from . import checkpoint as ckpt
from .attention import packed_attention_kwargs
from .data import TokenizedDataset
from .data.packing import (
    build_packed_batch,
    equalize_micro_batch_counts,
    pack_first_fit_decreasing,
    split_across_ranks,
)
from .data.split import hold_out
from .distributed import DistributedContext, all_reduce_sum
from .loss import loss_targets

__all__ = [
    "BEST_DIRNAME",
    "BEST_MARKER",
    "BestCheckpoint",
    "Evaluator",
    "evaluation_due",
    "load_run_data",
    "read_best",
    "write_best_checkpoint",
]

BEST_DIRNAME = "best"
BEST_MARKER = "best.json"


def load_run_data(params: Any, tokenizer: Any) -> tuple[TokenizedDataset, TokenizedDataset | None]:
    """``(training, validation)`` samples of a run: ``data_path`` (less the samples
    ``validation_split`` holds out), and the validation set (held out, ``eval_data_path``,
    or None), tokenized with the same options as the training data."""
    from .data import load_training_data
    from .data.dataset import load_data_file

    training = load_training_data(params, tokenizer)
    if params.validation_split > 0:
        return hold_out(training, params.validation_split, params.seed)
    if params.eval_data_path is None:
        return training, None
    if not Path(params.eval_data_path).is_file():
        raise DataError(
            f"Validation data file {params.eval_data_path} does not exist (eval_data_path)."
        )
    # the same options as the training data (field names, blocks of is_pretraining)
    validation = load_data_file(params.eval_data_path, params, tokenizer)
    return training, validation


def evaluation_due(
    step: int, *, frequency: int | None, epoch_end: bool, finished: bool, requested: bool
) -> bool:
    """Evaluate after this step: every ``frequency`` steps, at epoch ends, after the last
    step, and when a callback asked for it (``control.should_evaluate``)."""
    periodic = frequency is not None and step % frequency == 0
    return periodic or epoch_end or finished or requested


class Evaluator:
    """Computes ``val_loss`` of the model on this rank's share of the validation samples.

    The share and its packing are planned once, the same way on every rank, with
    as many micro-batches on every rank (dummies where short) so that sharded
    models stay in lockstep.
    """

    def __init__(
        self,
        dataset: TokenizedDataset,
        *,
        max_tokens_per_gpu: int,
        world_size: int,
        rank: int,
        pad_token_id: int,
        max_samples_per_micro_batch: int | None = None,
    ) -> None:
        lengths = dataset.lengths
        shares = split_across_ranks(range(len(dataset)), lengths, world_size)
        per_rank = [
            pack_first_fit_decreasing(s, lengths, max_tokens_per_gpu, max_samples_per_micro_batch)
            for s in shares
        ]
        self._bins = equalize_micro_batch_counts(per_rank, lengths)[rank]
        self.dataset = dataset
        self.pad_token_id = pad_token_id
        self.num_samples = len(dataset)
        self.num_loss_tokens = int(dataset.loss_tokens.sum())

    def evaluate(
        self,
        lm: torch.nn.Module,
        *,
        device: torch.device,
        context: DistributedContext,
        autocast: Callable[[], contextlib.AbstractContextManager[Any]],
        python_bounds: bool = True,
    ) -> dict[str, Any]:
        """``{"val_loss", "val_num_tokens", "val_num_samples"}``; a collective on every rank."""
        totals = torch.zeros(2, dtype=torch.float64, device=device)
        was_training = lm.training
        lm.eval()
        try:
            with torch.no_grad(), _cross_entropy_loss(lm):
                for indices in self._bins:
                    host_batch = build_packed_batch(self.dataset, indices, self.pad_token_id)
                    batch = host_batch.to(device)
                    positions, targets = loss_targets(host_batch)
                    with autocast():
                        summed = lm(
                            batch.input_ids,
                            batch.position_ids,
                            positions.to(device, non_blocking=True),
                            targets.to(device, non_blocking=True),
                            **packed_attention_kwargs(
                                host_batch, batch, python_bounds=python_bounds
                            ),
                        )
                    totals[0] += summed.double()
                    totals[1] += host_batch.num_loss_tokens
        finally:
            lm.train(was_training)
        all_reduce_sum(totals, context)
        loss_sum, loss_tokens = totals.tolist()
        return {
            "val_loss": loss_sum / loss_tokens if loss_tokens else math.nan,
            "val_num_tokens": int(loss_tokens),
            "val_num_samples": self.num_samples,
        }


@contextlib.contextmanager
def _cross_entropy_loss(lm: torch.nn.Module) -> Iterator[None]:
    """val_loss is cross-entropy even when the run trains with another ``loss``."""
    from . import loss as losses

    builtin = getattr(losses, "cross_entropy", None)
    previous = getattr(lm, "loss", None)
    if builtin is None or previous is None or getattr(lm, "liger_loss", None) is not None:
        yield  # the loss of this model is cross-entropy (built in, or Liger's fused one)
        return
    lm.loss = builtin
    try:
        yield
    finally:
        lm.loss = previous


# --- the best checkpoint -------------------------------------------------------------


@dataclass
class BestCheckpoint:
    """The best value of ``metric`` so far (lower is better) and the step it came from."""

    metric: str
    value: float | None = None
    step: int | None = None

    def improves(self, value: float) -> bool:
        return math.isfinite(value) and (self.value is None or value < self.value)


def best_dir(output_dir: str | Path) -> Path:
    return ckpt.checkpoints_root(output_dir) / BEST_DIRNAME


def read_best(output_dir: str | Path, metric: str) -> BestCheckpoint:
    """What ``checkpoints/best/best.json`` says (an empty record when there is none yet)."""
    marker = best_dir(output_dir) / BEST_MARKER
    try:
        saved = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return BestCheckpoint(metric)
    if saved.get("metric") != metric:
        return BestCheckpoint(metric)  # another metric's best: this run starts over
    return BestCheckpoint(metric, float(saved["value"]), int(saved["step"]))


def write_best_checkpoint(
    output_dir: str | Path,
    best: BestCheckpoint,
    *,
    epoch: int,
    source: Path | None,
    write_contents: Callable[[Path], None] | None = None,
) -> Path:
    """Replace ``checkpoints/best`` with the checkpoint of ``best.step``: hard links to the
    files of ``source`` (the ``step-<N>`` folder of that step) when given, else what
    ``write_contents(folder)`` writes. Written aside and renamed into place."""
    root = ckpt.checkpoints_root(output_dir)
    final = root / BEST_DIRNAME
    temp = root / f".tmp-{BEST_DIRNAME}-{os.getpid()}"
    old = root / f".tmp-{BEST_DIRNAME}-old-{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    for stale in (temp, old):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        if source is not None:
            shutil.copytree(source, temp, copy_function=_link_or_copy)
        else:
            assert write_contents is not None
            temp.mkdir()
            write_contents(temp)
            marker = {"step": best.step, "epoch_end": False, "format": 1}
            (temp / ckpt.COMPLETE_MARKER).write_text(json.dumps(marker), encoding="utf-8")
        record = {
            "metric": best.metric,
            "value": best.value,
            "step": best.step,
            "epoch": epoch,
            "copied_from": source.name if source is not None else None,
        }
        (temp / BEST_MARKER).write_text(json.dumps(record, indent=2), encoding="utf-8")
        if final.exists():
            os.rename(final, old)
        os.rename(temp, final)
        shutil.rmtree(old, ignore_errors=True)
    except Exception as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if old.exists() and not final.exists():
            os.rename(old, final)
        from .._errors import TrainingError

        raise TrainingError(
            f"Could not write the best checkpoint ({best.metric}={best.value} at step "
            f"{best.step}) to '{final}': {exc}. Free disk space (or fix permissions) and "
            "resume with --resume latest."
        ) from exc
    return final


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)
