"""Shared-prompt packing of the policy update: a group's prompt is computed once.

The ``group_size`` completions of a prompt share it, so the update packs each
group as one sample ``[prompt | c1 | c2 | ... | cG]``: every completion attends
to the prompt and, causally, to itself (a block mask per sample, which the
engine's packed attention takes as ``packed_seq_masks``), and its positions
continue from the prompt's end, so every completion sees exactly what it sees
alone in ``[prompt | c]``. The prompt's tokens run through the model once per
group instead of ``group_size`` times.

A completion's first token is predicted at its prompt's last position, which the
completions share, so the targets are ``(predicting position, token)`` pairs, not
a shifted label row. A completion's last token predicts nothing and is left out
of the input. Samples (a prompt with some of its completions; a group larger than
the token budget is split into several) are packed first-fit-decreasing into
micro-batches of ``budget`` tokens; a sample longer than the budget is a
micro-batch of its own. With ``share_prompts=False`` every completion is a sample
of its own (for attention functions that take no masks).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import torch

__all__ = ["PackableRow", "PackedGroups", "pack_groups"]


class PackableRow(Protocol):
    """What the packer reads of a prompt+completion row of the update."""

    ids: list[int]  # prompt tokens, then completion tokens
    prompt_length: int
    loss_tokens: int  # the first loss_tokens completion tokens carry loss (0: none)
    group: int  # rows of one group share their prompt


Row = TypeVar("Row", bound=PackableRow)


@dataclass
class PackedGroups:
    """One micro-batch: samples of shared-prompt groups packed into a single row.

    ``head_positions`` are the positions whose logits are needed (each once);
    loss token ``n`` (in the order of the micro-batch's rows, ``loss_tokens``
    each) is ``targets[n]``, predicted by the logits of ``head_positions[head_rows[n]]``.
    """

    input_ids: torch.Tensor  # [1, T]
    position_ids: torch.Tensor  # [1, T], each completion continuing from its prompt
    cu_seqlens: torch.Tensor  # [samples + 1] int32
    max_seqlen: int
    masks: tuple[torch.Tensor | None, ...]  # per sample [L, L] bool (True: attends); None: causal
    head_positions: torch.Tensor  # [U] int64
    head_rows: torch.Tensor  # [N] int64, index into head_positions
    targets: torch.Tensor  # [N] int64
    row_tokens: int  # prompt + completion tokens of the rows, as if each were packed alone

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def num_loss_tokens(self) -> int:
        return int(self.targets.numel())

    def to(self, device: torch.device | str) -> PackedGroups:
        def move(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to(device, non_blocking=True)

        return PackedGroups(
            input_ids=move(self.input_ids), position_ids=move(self.position_ids),
            cu_seqlens=move(self.cu_seqlens), max_seqlen=self.max_seqlen,
            masks=tuple(None if m is None else move(m) for m in self.masks),
            head_positions=move(self.head_positions), head_rows=move(self.head_rows),
            targets=move(self.targets), row_tokens=self.row_tokens)

    def attention_kwargs(self, device_batch: PackedGroups) -> dict[str, Any]:
        """Keyword arguments of the model forward for the engine's packed attention
        (this is the host copy; the tensors come from ``device_batch``)."""
        cu_seqlens = device_batch.cu_seqlens.to(torch.int32)
        kwargs: dict[str, Any] = {
            "packed_seq_bounds": tuple(self.cu_seqlens.tolist()),
            "cu_seq_lens_q": cu_seqlens, "cu_seq_lens_k": cu_seqlens,
            "max_length_q": self.max_seqlen, "max_length_k": self.max_seqlen,
        }
        if any(m is not None for m in device_batch.masks):
            kwargs["packed_seq_masks"] = device_batch.masks
        return kwargs

    @classmethod
    def empty(cls, pad_id: int) -> PackedGroups:
        """A one-token micro-batch with no loss (a rank with fewer micro-batches under FSDP2)."""
        return cls(
            input_ids=torch.full((1, 1), pad_id, dtype=torch.long),
            position_ids=torch.zeros((1, 1), dtype=torch.long),
            cu_seqlens=torch.tensor([0, 1], dtype=torch.int32), max_seqlen=1, masks=(None,),
            head_positions=torch.zeros(0, dtype=torch.long),
            head_rows=torch.zeros(0, dtype=torch.long), targets=torch.zeros(0, dtype=torch.long),
            row_tokens=0)


@dataclass
class _Sample:
    """A prompt and some of its completions (indices into the rows)."""

    members: list[int]
    length: int


def _samples(rows: Sequence[PackableRow], budget: int, share_prompts: bool) -> list[_Sample]:
    """The rows with loss tokens, grouped by prompt into samples of at most ``budget``
    tokens (one completion per sample at least, whatever its length)."""
    groups: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        if row.loss_tokens > 0:
            groups.setdefault(row.group if share_prompts else -1 - i, []).append(i)
    samples = []
    for members in groups.values():
        prompt = rows[members[0]].prompt_length
        current = _Sample([], prompt)
        for i in members:
            extra = rows[i].loss_tokens - 1
            if current.members and current.length + extra > budget:
                samples.append(current)
                current = _Sample([], prompt)
            current.members.append(i)
            current.length += extra
        samples.append(current)
    return samples


def _bins(samples: list[_Sample], budget: int) -> list[list[_Sample]]:
    """First-fit-decreasing into ``budget``-token micro-batches, samples in their order."""
    order = sorted(range(len(samples)), key=lambda s: -samples[s].length)
    bins: list[list[int]] = []
    room: list[int] = []
    for s in order:
        length = samples[s].length
        for b, free in enumerate(room):
            if length <= free:
                bins[b].append(s)
                room[b] -= length
                break
        else:
            bins.append([s])
            room.append(budget - length)
    return [[samples[s] for s in sorted(members)] for members in bins]


def _block_mask(prompt_length: int, inputs: list[int]) -> torch.Tensor | None:
    """``[L, L]`` bool: causal, and a completion sees the prompt and itself only.
    ``None`` (plain causal) when at most one completion has input tokens."""
    if sum(1 for n in inputs if n > 0) < 2:
        return None
    segment = torch.repeat_interleave(torch.arange(len(inputs) + 1),
                                      torch.tensor([prompt_length, *inputs]))
    index = torch.arange(segment.numel())
    causal = index[None, :] <= index[:, None]
    return causal & ((segment[None, :] == 0) | (segment[None, :] == segment[:, None]))


def pack_groups(rows: Sequence[Row], weights: Sequence[float], budget: int, *,
                share_prompts: bool = True
                ) -> list[tuple[PackedGroups, list[Row], list[float]]]:
    """The rows with loss tokens as micro-batches: ``(batch, its rows, their weights)``,
    the rows in the order of their loss tokens in the batch."""
    packed = []
    for samples in _bins(_samples(rows, budget, share_prompts), budget):
        ids: list[int] = []
        positions: list[int] = []
        head_positions: list[int] = []
        head_rows: list[int] = []
        targets: list[int] = []
        bounds = [0]
        masks = []
        members: list[int] = []
        for sample in samples:
            first = rows[sample.members[0]]
            prompt_length = first.prompt_length
            start = len(ids)
            ids += first.ids[:prompt_length]
            positions += range(prompt_length)
            prompt_head = len(head_positions)  # the prompt's last position predicts token 0
            head_positions.append(start + prompt_length - 1)
            inputs = []
            for i in sample.members:
                row = rows[i]
                completion = row.ids[prompt_length:prompt_length + row.loss_tokens]
                here, heads = len(ids), len(head_positions)
                ids += completion[:-1]
                positions += range(prompt_length, prompt_length + len(completion) - 1)
                head_positions += range(here, here + len(completion) - 1)
                head_rows += [prompt_head, *range(heads, heads + len(completion) - 1)]
                targets += completion
                inputs.append(len(completion) - 1)
                members.append(i)
            masks.append(_block_mask(prompt_length, inputs))
            bounds.append(len(ids))
        packed.append((PackedGroups(
            input_ids=torch.tensor([ids], dtype=torch.long),
            position_ids=torch.tensor([positions], dtype=torch.long),
            cu_seqlens=torch.tensor(bounds, dtype=torch.int32),
            max_seqlen=max(b - a for a, b in itertools.pairwise(bounds)), masks=tuple(masks),
            head_positions=torch.tensor(head_positions, dtype=torch.long),
            head_rows=torch.tensor(head_rows, dtype=torch.long),
            targets=torch.tensor(targets, dtype=torch.long),
            row_tokens=sum(len(rows[i].ids) for i in members)),
            [rows[i] for i in members], [weights[i] for i in members]))
    return packed
