"""Graceful stop on SIGTERM/SIGINT: finish the step, save a checkpoint, exit with code 75.

The first signal only sets a flag that the training loop reads at the next
step boundary; a second signal ends the process at once. This module imports
no torch, so the CLI can import :class:`TrainingInterrupted` cheaply.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

from .._errors import TrainingError

__all__ = ["INTERRUPTED_EXIT_CODE", "StopRequest", "TrainingInterrupted"]

#: Exit code of a run stopped by a signal after saving its checkpoint (EX_TEMPFAIL).
INTERRUPTED_EXIT_CODE = 75


class TrainingInterrupted(TrainingError):
    """Training stopped on a signal after saving a checkpoint; resume with resume='latest'."""

    exit_code = INTERRUPTED_EXIT_CODE

    def __init__(self, message: str, checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


class StopRequest:
    """Installs the handlers for the duration of a ``with`` block (main thread only)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, *, enabled: bool = True) -> None:
        #: False (``enable_jit_checkpoint=False``): the signals keep their default action.
        self.enabled = enabled
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # second signal: stop now, without a checkpoint
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if self.enabled and threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
