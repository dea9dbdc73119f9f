"""Atomic checkpoint writing on a full disk, RNG round trips, and the learning-rate schedule."""

from __future__ import annotations

import errno
import itertools
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from training_hub._errors import TrainingError
from training_hub.engine.checkpoint import (
    capture_rng_state,
    find_latest_checkpoint,
    list_checkpoints,
    restore_rng_state,
    write_checkpoint_atomically,
)
from training_hub.engine.optim import lr_factor


def _write_ok(folder: Path) -> None:
    (folder / "config.json").write_text("{}")


def test_full_disk_is_a_clear_error_and_keeps_earlier_checkpoints(tmp_path: Path) -> None:
    first = write_checkpoint_atomically(tmp_path, 1, _write_ok, epoch_end=False)

    def fill_disk(folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(TrainingError, match="step 2.*No space left.*intact"):
        write_checkpoint_atomically(tmp_path, 2, fill_disk, epoch_end=True)
    assert find_latest_checkpoint(tmp_path) == first
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-1"]  # no temp left
    assert (first / "config.json").read_text() == "{}"


def test_checkpoints_are_listed_by_step_with_epoch_marks(tmp_path: Path) -> None:
    for step, epoch_end in ((2, False), (10, True), (9, False)):
        write_checkpoint_atomically(tmp_path, step, _write_ok, epoch_end=epoch_end)
    listed = list_checkpoints(tmp_path)
    assert [(c.step, c.epoch_end) for c in listed] == [(2, False), (9, False), (10, True)]


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path: Path) -> None:
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    torch.save(capture_rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_learning_rate_schedules() -> None:
    def factors(schedule: str) -> list[float]:
        return [lr_factor(s, schedule=schedule, warmup_steps=3, total_steps=13) for s in range(13)]

    constant, linear, cosine = factors("constant"), factors("linear"), factors("cosine")
    assert constant[:3] == pytest.approx([0.25, 0.5, 0.75]) and constant[3:] == [1.0] * 10
    assert linear[3] == 1.0 and linear[8] == pytest.approx(0.5) and linear[-1] == pytest.approx(0.1)
    assert cosine[3] == 1.0 and cosine[8] == pytest.approx(0.5)
    assert all(a >= b for a, b in itertools.pairwise(cosine[3:]))
