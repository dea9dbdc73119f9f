"""A rank that dies takes the whole distributed run down, quickly and with an error.

``th train sft --nproc-per-node 2`` starts torchrun with two gloo workers on
the CPU. Once training is under way, rank 1 is killed with SIGKILL (an
out-of-memory kill, a lost node). The launcher must return a non-zero exit
code within a bounded time instead of hanging on the dead peer.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from training_hub.engine.checkpoint import list_checkpoints

from ._reliability_helpers import (
    ReliabilityAssets,
    checkpoint_done,
    cli_args,
    run_settings,
    start_th,
    wait_for,
)

pytestmark = [
    pytest.mark.slow,  # two workers load torch and transformers: about 20 s on 2 cores
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

BOUND_S = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def _descendants(pid: int) -> list[int]:
    pending, found = [pid], []
    while pending:
        try:
            children = _children(pending.pop())
        except OSError:
            continue
        found += children
        pending += children
    return found


def _worker_of_rank(launcher_pid: int, rank: int) -> int | None:
    """The pid of the training worker with ``RANK=rank`` among the launcher's descendants."""
    for pid in _descendants(launcher_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"training_hub.engine.worker" in cmdline and f"RANK={rank}".encode() in environ:
            return pid
    return None


def test_a_killed_rank_makes_the_launcher_fail_within_a_bound(
    assets: ReliabilityAssets, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    settings = run_settings(
        assets, output, max_steps=200, num_epochs=40, save_every=1, nproc_per_node=2,
        master_port=_free_port(),
    )
    launcher = start_th("train", "sft", *cli_args(settings))
    try:
        wait_for(checkpoint_done(output, 1), launcher, timeout_s=300)
        victim = _worker_of_rank(launcher.pid, 1)
        assert victim is not None, "no rank-1 worker found"
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        _, err = launcher.communicate(timeout=BOUND_S)
        took = time.monotonic() - killed_at
    finally:
        if launcher.poll() is None:
            for pid in _descendants(launcher.pid):
                os.kill(pid, signal.SIGKILL)
            launcher.kill()
    assert launcher.returncode not in (0, None)
    assert took < BOUND_S
    assert "the distributed run failed with exit code" in err, err[-2000:]
    assert all(c.step < 200 for c in list_checkpoints(output))  # it did stop early
    # Checkpoints written before the crash stay complete and resumable.
    assert all((c.path / "training_state").is_dir() for c in list_checkpoints(output))
