"""The packed micro-batch: the contract between the data pipeline and the training loop.

Samples are concatenated into one row with no padding. ``position_ids`` restart
at 0 for every sample and ``cu_seqlens`` marks the sample boundaries, so the
attention never crosses from one sample into another.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["IGNORE_INDEX", "PackedBatch"]

#: Label of a token that carries no loss (prompt, system and user turns).
IGNORE_INDEX = -100


@dataclass
class PackedBatch:
    """One micro-batch of one process: samples packed into a single row."""

    input_ids: torch.Tensor  # [1, T] int64
    labels: torch.Tensor  # [1, T] int64, already shifted: labels[t] is the target of input_ids[t]
    position_ids: torch.Tensor  # [1, T] int64, restarting at 0 per sample
    cu_seqlens: torch.Tensor  # [n + 1] int32, cumulative sample lengths, starts at 0, ends at T
    max_seqlen: int  # longest sample in the micro-batch
    num_samples: int
    num_loss_tokens: int  # labels != IGNORE_INDEX

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[1])

    def to(self, device: torch.device | str) -> PackedBatch:
        return PackedBatch(
            input_ids=self.input_ids.to(device, non_blocking=True),
            labels=self.labels.to(device, non_blocking=True),
            position_ids=self.position_ids.to(device, non_blocking=True),
            cu_seqlens=self.cu_seqlens.to(device, non_blocking=True),
            max_seqlen=self.max_seqlen,
            num_samples=self.num_samples,
            num_loss_tokens=self.num_loss_tokens,
        )
