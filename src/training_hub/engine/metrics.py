"""Training metrics on the console: a progress bar, or one log line per logging step.

Only rank 0 creates a :class:`MetricsLogger`. The console shows a rich
progress bar (loss, lr, tokens/s, ETA) or, with ``quiet`` or when stdout is
not a terminal, one plain log line per logging step. The files (metrics.jsonl,
TensorBoard, MLflow, W&B) are written by the trackers (``training_hub.trackers``),
which receive the same records through the ``on_log`` and ``on_evaluate`` events.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from ..trackers._jsonl import METRICS_FILENAME, truncate_metrics
from .eta import format_seconds

__all__ = ["METRICS_FILENAME", "MetricsLogger", "truncate_metrics"]

logger = logging.getLogger("training_hub.engine")


class MetricsLogger:
    """Shows each logged record on the console."""

    def __init__(
        self,
        output_dir: Path,
        *,
        total_steps: int,
        start_step: int,
        quiet: bool,
    ) -> None:
        self.path = output_dir / METRICS_FILENAME  # written by the JSONL tracker
        # A progress bar is invisible in a log file or CI: print plain lines there.
        quiet = quiet or not sys.stdout.isatty()
        self._quiet = quiet
        self._total_steps = total_steps
        self._progress: Any = None
        self._task: Any = None
        if not quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                # the run's own ETA: planned tokens at the measured tokens/s (eta.py)
                TextColumn("ETA {task.fields[eta]}"),
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "train", total=total_steps, completed=start_step, info="", eta="-"
            )

    def log(self, record: dict[str, Any]) -> None:
        step = record["step"]
        summary = (
            f"loss {record['loss']:.4f}  lr {record['lr']:.2e}  "
            f"{record['tokens_per_second']:.0f} tok/s"
        )
        eta = record.get("eta_s")
        if self._progress is not None:
            self._progress.update(self._task, completed=step, info=summary,
                                  eta="-" if eta is None else format_seconds(eta))
            return
        if eta is not None:
            summary += f"  ETA {format_seconds(eta)}"
        logger.info(
            "step %d/%d  epoch %d  %s", step, self._total_steps, record["epoch"], summary
        )

    def log_evaluation(self, record: dict[str, Any]) -> None:
        """An evaluation's record (``val_loss``...) on the console."""
        self.note(
            f"step {record['step']}: val_loss {record['val_loss']:.4f} over "
            f"{record['val_num_tokens']} tokens of {record['val_num_samples']} samples"
        )

    def advance(self, step: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step)

    def note(self, message: str) -> None:
        """A one-off line (skipped step, checkpoint written) that does not break the bar."""
        if self._progress is not None:
            self._progress.console.log(message)
        else:
            logger.info(message)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
