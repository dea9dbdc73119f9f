"""StepBatcher: budgets, every sample once per epoch, rank lockstep, determinism, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from training_hub._errors import DataError
from training_hub.engine.batch import IGNORE_INDEX
from training_hub.engine.data import StepBatcher, TokenizedDataset, build_packed_batch


def _dataset(lengths: list[int]) -> TokenizedDataset:
    """Sample i holds tokens 1000*i + position, so every token says where it came from."""
    samples = []
    for i, length in enumerate(lengths):
        ids = [1000 * i + t for t in range(length)]
        samples.append((ids, [*ids[1:], IGNORE_INDEX]))
    return TokenizedDataset.from_samples(samples)


def _samples_of(batch) -> list[int]:
    starts = batch.cu_seqlens[:-1].tolist()
    return [int(batch.input_ids[0, s]) // 1000 for s in starts]


def _all_steps(dataset, world_size: int, **options) -> list[list]:
    """Steps of every rank side by side: result[step][rank] is that rank's Step."""
    batchers = [
        StepBatcher(dataset, world_size=world_size, rank=rank, **options)
        for rank in range(world_size)
    ]
    return [list(steps) for steps in zip(*batchers, strict=True)]


def _check_epoch_plan(dataset, world_size, effective_batch_size, budget, num_epochs=1, seed=0):
    lengths = dataset.lengths
    steps = _all_steps(
        dataset,
        world_size,
        effective_batch_size=effective_batch_size,
        max_tokens_per_gpu=budget,
        num_epochs=num_epochs,
        seed=seed,
    )
    per_epoch = -(-len(dataset) // effective_batch_size)
    assert len(steps) == per_epoch * num_epochs
    seen: dict[int, list[int]] = {}
    for ranks in steps:
        counts = {len(step.micro_batches) for step in ranks}
        assert len(counts) == 1, "every rank needs the same number of micro-batches"
        step_samples = []
        for step in ranks:
            for batch in step.micro_batches:
                assert batch.num_tokens <= budget
                assert batch.cu_seqlens.dtype == torch.int32
                assert int(batch.cu_seqlens[-1]) == batch.num_tokens
                if batch.num_samples == 0:  # dummy: one pad token without loss
                    assert batch.num_tokens == 1 and batch.num_loss_tokens == 0
                    assert int(batch.labels[0, 0]) == IGNORE_INDEX
                    continue
                ids = batch.input_ids[0].tolist()
                for sample, start, end in zip(
                    _samples_of(batch),
                    batch.cu_seqlens[:-1].tolist(),
                    batch.cu_seqlens[1:].tolist(),
                    strict=True,
                ):
                    assert end - start == lengths[sample]
                    assert batch.position_ids[0, start:end].tolist() == list(range(end - start))
                    assert ids[start:end] == [1000 * sample + t for t in range(end - start)]
                    assert int(batch.labels[0, end - 1]) == IGNORE_INDEX  # no cross-sample target
                assert batch.num_loss_tokens == int((batch.labels != IGNORE_INDEX).sum())
                step_samples += _samples_of(batch)
        first = ranks[0]
        assert all(
            (s.num_samples, s.num_loss_tokens, s.num_tokens)
            == (first.num_samples, first.num_loss_tokens, first.num_tokens)
            for s in ranks
        )
        assert first.num_samples == len(step_samples)
        assert first.num_tokens == int(lengths[step_samples].sum())
        assert len(step_samples) == min(
            effective_batch_size, len(dataset) - first.step_in_epoch * effective_batch_size
        )
        seen.setdefault(first.epoch, []).extend(step_samples)
    for epoch_samples in seen.values():
        assert sorted(epoch_samples) == list(range(len(dataset)))  # each once per epoch
    return steps


def test_two_ranks_one_epoch() -> None:
    dataset = _dataset([5, 30, 12, 7, 40, 3, 9, 22, 16, 8, 31])
    steps = _check_epoch_plan(dataset, world_size=2, effective_batch_size=4, budget=48)
    assert [s[0].num_samples for s in steps] == [4, 4, 3]  # last partial step kept


def test_a_rank_without_samples_gets_dummy_micro_batches() -> None:
    dataset = _dataset([10, 20, 30])
    steps = _all_steps(dataset, 4, effective_batch_size=3, max_tokens_per_gpu=32)
    dummies = [b for b in steps[0][3].micro_batches if b.num_samples == 0]
    assert len(steps[0][3].micro_batches) == 1 and len(dummies) == 1
    assert dummies[0].input_ids.tolist() == [[0]]


def test_busy_rank_micro_batches_are_split_before_dummies_are_added() -> None:
    # One rank gets the 60-token sample alone (2 micro-batches needed by the other rank).
    dataset = _dataset([60, 20, 20, 20, 5])
    steps = _all_steps(dataset, 2, effective_batch_size=5, max_tokens_per_gpu=64)
    counts = [len(step.micro_batches) for step in steps[0]]
    assert counts[0] == counts[1]
    assert all(b.num_samples > 0 for step in steps[0] for b in step.micro_batches)


def test_shuffle_is_deterministic_by_seed_and_changes_per_epoch() -> None:
    dataset = _dataset(list(range(3, 40)))
    options = {"effective_batch_size": 8, "max_tokens_per_gpu": 64, "num_epochs": 2}

    def order(seed: int) -> list[list[int]]:
        return [
            sorted(i for b in step.micro_batches for i in _samples_of(b))
            for step in StepBatcher(dataset, seed=seed, **options)
        ]

    assert order(1) == order(1)
    assert order(1) != order(2)
    per_epoch = StepBatcher(dataset, seed=1, **options).steps_per_epoch
    assert order(1)[:per_epoch] != order(1)[per_epoch:]


def test_resume_yields_exactly_the_remaining_steps() -> None:
    dataset = _dataset([4 + (7 * i) % 29 for i in range(23)])
    options = {"effective_batch_size": 5, "max_tokens_per_gpu": 40, "num_epochs": 3, "seed": 7}
    full = StepBatcher(dataset, **options)
    assert (full.steps_per_epoch, full.total_steps, len(full)) == (5, 15, 15)
    expected = [
        (s.epoch, s.step_in_epoch, [b.input_ids.tolist() for b in s.micro_batches]) for s in full
    ]

    first_run = StepBatcher(dataset, **options)
    for done, _ in enumerate(first_run, start=1):
        if done == 7:
            break
    saved = first_run.state_dict()
    assert first_run.position == (1, 2) and first_run.global_step == 7

    resumed = StepBatcher(dataset, **options)
    resumed.load_state_dict(saved)
    assert len(resumed) == 8
    rest = [
        (s.epoch, s.step_in_epoch, [b.input_ids.tolist() for b in s.micro_batches]) for s in resumed
    ]
    assert rest == expected[7:]
    assert resumed.position == (3, 0)


def test_resume_refuses_changed_data() -> None:
    batcher = StepBatcher(_dataset([5] * 10), effective_batch_size=2, max_tokens_per_gpu=16)
    other = StepBatcher(_dataset([5] * 12), effective_batch_size=2, max_tokens_per_gpu=16)
    with pytest.raises(DataError, match="trained on 10 samples"):
        other.load_state_dict(batcher.state_dict())


def test_sample_longer_than_the_budget_is_an_error() -> None:
    with pytest.raises(DataError, match="longest sample has 70 tokens"):
        StepBatcher(_dataset([10, 70]), effective_batch_size=2, max_tokens_per_gpu=64)


def test_packed_batch_restarts_positions_and_keeps_shifted_labels() -> None:
    dataset = _dataset([3, 2])
    batch = build_packed_batch(dataset, [0, 1])
    assert batch.input_ids.tolist() == [[0, 1, 2, 1000, 1001]]
    assert batch.labels.tolist() == [[1, 2, IGNORE_INDEX, 1001, IGNORE_INDEX]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 0, 1]]
    assert batch.cu_seqlens.tolist() == [0, 3, 5]
    assert (batch.max_seqlen, batch.num_samples, batch.num_loss_tokens) == (3, 2, 3)


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40),
    world_size=st.integers(min_value=1, max_value=4),
    effective_batch_size=st.integers(min_value=1, max_value=12),
    budget=st.integers(min_value=64, max_value=200),
    seed=st.integers(min_value=0, max_value=3),
)
def test_packing_properties(lengths, world_size, effective_batch_size, budget, seed) -> None:
    _check_epoch_plan(
        _dataset(lengths), world_size, effective_batch_size, budget, num_epochs=2, seed=seed
    )


def test_lengths_and_loss_tokens_of_the_dataset() -> None:
    dataset = _dataset([3, 1, 4])
    assert dataset.lengths.tolist() == [3, 1, 4]
    assert dataset.loss_tokens.tolist() == [2, 0, 3]
    assert np.array_equal(dataset.sample(2)[0], [2000, 2001, 2002, 2003])
