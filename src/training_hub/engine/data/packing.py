"""Optimizer steps of packed micro-batches: shuffle, split across ranks, pack, resume.

Per epoch the sample order is a permutation drawn from ``seed`` and the epoch
number. Consecutive runs of ``effective_batch_size`` samples form one optimizer
step (the last, shorter step of an epoch is kept). Each step's samples are split
across ranks balanced by tokens, and each rank packs its share into micro-batches
of at most ``max_tokens_per_gpu`` tokens (first-fit decreasing, no padding).

Lockstep: every rank gets the same number of micro-batches per step, because
FSDP's collectives run once per forward/backward. A rank with fewer first splits
its multi-sample micro-batches; if it still has fewer, it gets *dummy*
micro-batches: one pad token, label -100, ``num_samples == 0`` and
``num_loss_tokens == 0``. The loop runs forward and backward on a dummy as on
any other micro-batch; with the loss computed as a sum over loss tokens divided
by the step's global ``num_loss_tokens``, a dummy adds exactly zero gradient.

Every rank computes the whole plan (it is cheap and deterministic), so each
:class:`Step` also carries global counts: no all-reduce is needed to normalize.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..._errors import DataError
from ..batch import IGNORE_INDEX, PackedBatch
from .dataset import TokenizedDataset

__all__ = [
    "Step",
    "StepBatcher",
    "build_packed_batch",
    "equalize_micro_batch_counts",
    "pack_first_fit_decreasing",
    "split_across_ranks",
]


def split_across_ranks(
    indices: Sequence[int], lengths: np.ndarray, world_size: int
) -> list[list[int]]:
    """Share samples among ranks with close token totals (longest first, to the lightest)."""
    shares: list[list[int]] = [[] for _ in range(world_size)]
    tokens = [0] * world_size
    for index in sorted(indices, key=lambda i: (-int(lengths[i]), i)):
        rank = min(range(world_size), key=lambda r: (tokens[r], len(shares[r]), r))
        shares[rank].append(index)
        tokens[rank] += int(lengths[index])
    return shares


def pack_first_fit_decreasing(
    indices: Sequence[int], lengths: np.ndarray, budget: int, max_samples: int | None = None
) -> list[list[int]]:
    """Pack samples into bins of at most ``budget`` tokens (first-fit decreasing) and, when
    given, at most ``max_samples`` samples (``micro_batch_size``; 1: no packing)."""
    bins: list[list[int]] = []
    room: list[int] = []
    for index in sorted(indices, key=lambda i: (-int(lengths[i]), i)):
        length = int(lengths[index])
        if length > budget:
            raise DataError(
                f"A sample of {length} tokens does not fit max_tokens_per_gpu={budget}; "
                "raise max_tokens_per_gpu or lower max_seq_len."
            )
        for slot, free in enumerate(room):
            if length <= free and (max_samples is None or len(bins[slot]) < max_samples):
                bins[slot].append(index)
                room[slot] -= length
                break
        else:
            bins.append([index])
            room.append(budget - length)
    return bins


def _split_bin(samples: list[int], lengths: np.ndarray) -> tuple[list[int], list[int]]:
    halves: tuple[list[int], list[int]] = ([], [])
    totals = [0, 0]
    for index in sorted(samples, key=lambda i: (-int(lengths[i]), i)):
        side = 0 if totals[0] <= totals[1] else 1
        halves[side].append(index)
        totals[side] += int(lengths[index])
    return halves


def equalize_micro_batch_counts(
    per_rank: list[list[list[int]]], lengths: np.ndarray
) -> list[list[list[int]]]:
    """Give every rank as many micro-batches as the busiest; ``[]`` is a dummy micro-batch."""
    target = max((len(bins) for bins in per_rank), default=0)
    equalized = []
    for bins in per_rank:
        bins = [list(b) for b in bins]
        while len(bins) < target:
            splittable = [b for b in bins if len(b) > 1]
            if not splittable:
                bins.extend([] for _ in range(target - len(bins)))
                break
            largest = max(splittable, key=lambda b: sum(int(lengths[i]) for i in b))
            bins.remove(largest)
            bins.extend(_split_bin(largest, lengths))
        equalized.append(bins)
    return equalized


def build_packed_batch(
    dataset: TokenizedDataset, indices: Sequence[int], pad_token_id: int = 0
) -> PackedBatch:
    """Concatenate samples into one row; no indices gives the dummy micro-batch."""
    if not indices:
        return PackedBatch(
            input_ids=torch.tensor([[pad_token_id]], dtype=torch.long),
            labels=torch.tensor([[IGNORE_INDEX]], dtype=torch.long),
            position_ids=torch.zeros((1, 1), dtype=torch.long),
            cu_seqlens=torch.tensor([0, 1], dtype=torch.int32),
            max_seqlen=1,
            num_samples=0,
            num_loss_tokens=0,
        )
    pieces = [dataset.sample(i) for i in indices]
    lengths = np.asarray([len(ids) for ids, _ in pieces], dtype=np.int64)
    input_ids = np.concatenate([ids for ids, _ in pieces]).astype(np.int64)
    labels = np.concatenate([lab for _, lab in pieces]).astype(np.int64)
    cu_seqlens = np.zeros(len(pieces) + 1, dtype=np.int32)
    np.cumsum(lengths, out=cu_seqlens[1:])
    position_ids = np.arange(len(input_ids), dtype=np.int64) - np.repeat(cu_seqlens[:-1], lengths)
    return PackedBatch(
        input_ids=torch.from_numpy(input_ids)[None],
        labels=torch.from_numpy(labels)[None],
        position_ids=torch.from_numpy(position_ids)[None],
        cu_seqlens=torch.from_numpy(cu_seqlens),
        max_seqlen=int(lengths.max()),
        num_samples=len(pieces),
        num_loss_tokens=int((labels != IGNORE_INDEX).sum()),
    )


@dataclass
class Step:
    """One optimizer step as seen by one rank."""

    epoch: int
    step_in_epoch: int
    micro_batches: list[PackedBatch]  # this rank's; the same count on every rank
    num_samples: int  # all ranks together
    num_tokens: int  # all ranks together
    num_loss_tokens: int  # all ranks together: divide the summed loss by this


class StepBatcher:
    """Iterate the optimizer steps of a run, from its current position to the last epoch's end.

    ``position`` is ``(epoch, step_in_epoch)`` of the next step to yield; it moves
    forward as each step is yielded, so the ``state_dict()`` saved after a step
    resumes with the step after it.
    """

    def __init__(
        self,
        dataset: TokenizedDataset,
        *,
        effective_batch_size: int,
        max_tokens_per_gpu: int,
        num_epochs: int = 1,
        seed: int = 0,
        world_size: int = 1,
        rank: int = 0,
        pad_token_id: int = 0,
        max_samples_per_micro_batch: int | None = None,
    ) -> None:
        if len(dataset) == 0:
            raise DataError("The training data holds no samples.")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        longest = int(dataset.lengths.max())
        if longest > max_tokens_per_gpu:
            raise DataError(
                f"The longest sample has {longest} tokens, more than max_tokens_per_gpu="
                f"{max_tokens_per_gpu}; raise max_tokens_per_gpu or lower max_seq_len."
            )
        self.dataset = dataset
        self.effective_batch_size = effective_batch_size
        self.max_tokens_per_gpu = max_tokens_per_gpu
        self.num_epochs = num_epochs
        self.seed = seed
        self.world_size = world_size
        self.rank = rank
        self.pad_token_id = pad_token_id
        self.max_samples_per_micro_batch = max_samples_per_micro_batch
        self.steps_per_epoch = math.ceil(len(dataset) / effective_batch_size)
        self._epoch = 0
        self._step_in_epoch = 0

    @property
    def total_steps(self) -> int:
        """Optimizer steps of all epochs (for the learning-rate schedule)."""
        return self.steps_per_epoch * self.num_epochs

    @property
    def position(self) -> tuple[int, int]:
        """``(epoch, step_in_epoch)`` of the next step."""
        return self._epoch, self._step_in_epoch

    @property
    def global_step(self) -> int:
        """Optimizer steps done so far (0-based index of the next step)."""
        return self._epoch * self.steps_per_epoch + self._step_in_epoch

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self._epoch,
            "step_in_epoch": self._step_in_epoch,
            "num_samples": len(self.dataset),
            "steps_per_epoch": self.steps_per_epoch,
            "seed": self.seed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position; the data and batching must be the same as then."""
        saved = (state["num_samples"], state["steps_per_epoch"], state["seed"])
        now = (len(self.dataset), self.steps_per_epoch, self.seed)
        if saved != now:
            raise DataError(
                "Cannot resume: the checkpoint was trained on {} samples in {} steps per epoch "
                "with seed {}, this run has {} samples, {} steps per epoch, seed {}. Resume with "
                "the same data, effective_batch_size and seed.".format(*saved, *now)
            )
        self._epoch, self._step_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Sample order of ``epoch``: the same on every rank and in every run."""
        generator = np.random.default_rng([self.seed, epoch])
        return generator.permutation(len(self.dataset))

    def plan_step(self, epoch: int, step_in_epoch: int) -> list[list[list[int]]]:
        """Sample indices per rank, per micro-batch (``[]`` is a dummy) of one step."""
        start = step_in_epoch * self.effective_batch_size
        indices = self.epoch_order(epoch)[start : start + self.effective_batch_size].tolist()
        lengths = self.dataset.lengths
        shares = split_across_ranks(indices, lengths, self.world_size)
        per_rank = [
            pack_first_fit_decreasing(
                s, lengths, self.max_tokens_per_gpu, self.max_samples_per_micro_batch
            )
            for s in shares
        ]
        return equalize_micro_batch_counts(per_rank, lengths)

    def __len__(self) -> int:
        """Steps left to yield."""
        return self.total_steps - self.global_step

    def __iter__(self) -> Iterator[Step]:
        while self._epoch < self.num_epochs:
            epoch, step_in_epoch = self._epoch, self._step_in_epoch
            plan = self.plan_step(epoch, step_in_epoch)
            everything = [i for bins in plan for b in bins for i in b]
            step = Step(
                epoch=epoch,
                step_in_epoch=step_in_epoch,
                micro_batches=[
                    build_packed_batch(self.dataset, b, self.pad_token_id) for b in plan[self.rank]
                ],
                num_samples=len(everything),
                num_tokens=int(self.dataset.lengths[everything].sum()),
                num_loss_tokens=int(self.dataset.loss_tokens[everything].sum()),
            )
            self._step_in_epoch += 1
            if self._step_in_epoch == self.steps_per_epoch:
                self._epoch, self._step_in_epoch = self._epoch + 1, 0
            yield step
