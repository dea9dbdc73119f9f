"""A live run's lock of an output folder, held by another process, for lock tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["held_run_lock"]

_HOLD_LOCK = """
import sys, time
from training_hub.engine.run_lock import RunLock
with RunLock.acquire(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@contextmanager
def held_run_lock(output_dir: str | Path) -> Iterator[subprocess.Popen[str]]:
    """A process holding the run lock of ``output_dir`` while the block runs; it is killed
    at the end, so it dies holding the lock and leaves its lock file behind."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(output_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline().strip() if holder.stdout is not None else ""
        if line != "held":
            raise RuntimeError(f"the lock holder did not take the lock of {output_dir}")
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=30)
