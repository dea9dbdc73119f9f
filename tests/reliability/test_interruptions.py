"""Interrupted runs: kill -9, SIGTERM/SIGINT and a second signal, then resume bit for bit.

Training runs as a real ``th train sft`` process; the tests wait for a
checkpoint to appear on disk and then signal the process, like an operator or
a cluster scheduler would. Resumed runs must end with exactly the weights and
the metrics of an uninterrupted run with the same parameters and seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from training_hub.engine import INTERRUPTED_EXIT_CODE, train
from training_hub.engine.checkpoint import find_latest_checkpoint, list_checkpoints

from ._reliability_helpers import (
    ReliabilityAssets,
    checkpoint_done,
    checkpoint_weights,
    cli_args,
    metrics_rows,
    run_params,
    run_settings,
    start_th,
    wait_for,
)

#: 48 samples / 8 per step = 6 steps per epoch: the runs cross epoch ends (steps 6 and 12).
TOTAL_STEPS = 16
SETTINGS: dict[str, Any] = {"max_steps": TOTAL_STEPS, "save_every": 1}


@pytest.fixture(scope="module")
def reference(assets: ReliabilityAssets, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run with the same parameters (in this process)."""
    output = tmp_path_factory.mktemp("reference") / "run"
    train(run_params(assets, output, **SETTINGS))
    return output


def _start_training(assets: ReliabilityAssets, output: Path, **overrides: Any) -> Any:
    settings = run_settings(assets, output, **SETTINGS, **overrides)
    return start_th("train", "sft", *cli_args(settings))


def _finish_in_process_and_compare(
    assets: ReliabilityAssets, output: Path, reference: Path
) -> None:
    """Resume with resume=latest to the end; weights and metrics must equal the reference."""
    latest_before = find_latest_checkpoint(output)
    assert latest_before is not None
    resumed = train(run_params(assets, output, resume="latest", **SETTINGS))
    assert resumed.steps == TOTAL_STEPS
    first_written = Path(resumed.checkpoints[0]).name
    assert first_written == f"step-{int(latest_before.name.split('-')[1]) + 1}"

    expected = checkpoint_weights(reference / "checkpoints" / f"step-{TOTAL_STEPS}")
    actual = checkpoint_weights(resumed.last_checkpoint)
    assert expected.keys() == actual.keys()
    unequal = [name for name in expected if not torch.equal(expected[name], actual[name])]
    assert not unequal, f"weights differ from the uninterrupted run: {unequal[:5]}"

    rows, reference_rows = metrics_rows(output), metrics_rows(reference)
    assert [row["step"] for row in rows] == list(range(1, TOTAL_STEPS + 1))  # no gap, no repeat
    assert [row["loss"] for row in rows] == [row["loss"] for row in reference_rows]
    assert [row["lr"] for row in rows] == [row["lr"] for row in reference_rows]
    names = sorted(p.name for p in (output / "checkpoints").iterdir())
    assert not [n for n in names if n.startswith(".tmp")], names  # stale temp folders removed
    assert [c.step for c in list_checkpoints(output)] == list(range(1, TOTAL_STEPS + 1))


def test_kill_9_at_a_random_step_then_resume_equals_an_uninterrupted_run(
    assets: ReliabilityAssets, reference: Path, tmp_path: Path
) -> None:
    chooser = random.Random(20240611)
    kill_after_step = chooser.randint(2, 6)
    delay_s = chooser.uniform(0.0, 0.1)  # lands anywhere in the next step or its checkpoint
    output = tmp_path / "run"
    process = _start_training(assets, output)
    try:
        wait_for(checkpoint_done(output, kill_after_step), process)
        time.sleep(delay_s)
        assert process.poll() is None, "the run finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    latest = find_latest_checkpoint(output)
    assert latest is not None and int(latest.name.split("-")[1]) >= kill_after_step
    _finish_in_process_and_compare(assets, output, reference)


def _stop_with(process: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    os.kill(process.pid, signum)
    out, err = process.communicate(timeout=120)
    return out, err


def test_sigterm_then_sigint_checkpoint_exit_75_and_resume_equals_uninterrupted(
    assets: ReliabilityAssets, reference: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"

    first = _start_training(assets, output)
    wait_for(checkpoint_done(output, 2), first)
    _, err = _stop_with(first, signal.SIGTERM)
    assert first.returncode == INTERRUPTED_EXIT_CODE == 75, err
    assert "Training stopped on SIGTERM" in err and "resume='latest'" in err, err
    stopped_at = find_latest_checkpoint(output)
    assert stopped_at is not None
    step = int(stopped_at.name.split("-")[1])
    assert 2 <= step < TOTAL_STEPS
    assert f"after step {step}; checkpoint {stopped_at}" in err
    assert metrics_rows(output)[-1]["step"] == step  # the checkpoint is of the last step run

    second = _start_training(assets, output, resume="latest")
    wait_for(checkpoint_done(output, step + 1), second)
    _, err = _stop_with(second, signal.SIGINT)
    assert second.returncode == INTERRUPTED_EXIT_CODE, err
    assert "Training stopped on SIGINT" in err, err
    assert f"Resuming from {stopped_at}" in err

    _finish_in_process_and_compare(assets, output, reference)


def test_a_second_signal_ends_the_run_at_once(assets: ReliabilityAssets, tmp_path: Path) -> None:
    # The two signals are sent back to back, so the second always arrives while the first
    # is being honoured (a pause between them lets a fast step finish and exit with 75
    # first). They differ because two pending signals of one kind merge into one.
    output = tmp_path / "run"
    process = _start_training(assets, output, effective_batch_size=48, max_tokens_per_gpu=128)
    wait_for(checkpoint_done(output, 1), process)
    sent = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    os.kill(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert time.monotonic() - sent < 10
    # Killed by whichever signal Python handled second (it handles pending ones in signal
    # number order), never the exit code 75 of an honoured stop.
    assert process.returncode in (-signal.SIGINT, -signal.SIGTERM), err
    assert "Training stopped" not in err
    assert all((c.path / "checkpoint.json").is_file() for c in list_checkpoints(output))
