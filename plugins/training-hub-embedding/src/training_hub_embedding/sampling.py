"""Batch samplers of embedding_sft: which examples train together in one step.

In-batch-negative losses need batches without repeated texts (a duplicate is a
false negative); triplet losses need several texts of each label in a batch.
The samplers follow sentence-transformers' ``BatchSamplers`` of the same names.
"""

from __future__ import annotations

import random
from typing import Literal

from .data import EmbeddingExamples

__all__ = ["SamplerName", "epoch_batches"]

SamplerName = Literal["no_duplicates", "group_by_label", "default"]


def epoch_batches(
    examples: EmbeddingExamples, batch_size: int, sampler: SamplerName, rng: random.Random
) -> list[list[int]]:
    """The batches (lists of example indices) of one epoch; every example is in one."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    if sampler == "no_duplicates":
        return _no_duplicates(examples, order, batch_size)
    if sampler == "group_by_label":
        return _group_by_label(examples, order, batch_size, rng)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _no_duplicates(
    examples: EmbeddingExamples, order: list[int], batch_size: int
) -> list[list[int]]:
    """Fill each batch in shuffled order, deferring an example whose texts are already in it."""
    batches = []
    remaining = order
    while remaining:
        batch: list[int] = []
        seen: set[str] = set()
        deferred = []
        for index in remaining:
            texts = examples.rows[index]
            if len(batch) < batch_size and seen.isdisjoint(texts):
                batch.append(index)
                seen.update(texts)
            else:
                deferred.append(index)
        batches.append(batch)
        remaining = deferred
    return batches


def _group_by_label(
    examples: EmbeddingExamples, order: list[int], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Labels take turns giving two examples each (shuffled within the label), so every
    batch holds several labels with at least two texts each; the tail comes last."""
    assert examples.labels is not None
    groups: dict[int, list[int]] = {}
    for index in order:
        groups.setdefault(examples.labels[index], []).append(index)
    stream: list[int] = []
    active = [label for label in groups if len(groups[label]) >= 2]
    while len(active) >= 2:
        rng.shuffle(active)
        for label in active:
            stream.extend(groups[label][:2])
            groups[label] = groups[label][2:]
        active = [label for label in active if len(groups[label]) >= 2]
    stream.extend(index for label in groups for index in groups[label])
    return [stream[i:i + batch_size] for i in range(0, len(stream), batch_size)]
