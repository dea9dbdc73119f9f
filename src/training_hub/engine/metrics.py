"""Training metrics: ``metrics.jsonl`` always, TensorBoard when installed, and the console.

Only rank 0 creates a :class:`MetricsLogger`. The console shows a rich
progress bar (loss, lr, tokens/s, ETA) or, with ``quiet`` or when stdout is
not a terminal, one plain log line per logging step.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["METRICS_FILENAME", "MetricsLogger", "truncate_metrics"]

METRICS_FILENAME = "metrics.jsonl"
logger = logging.getLogger("training_hub.engine")


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop lines of steps after ``last_step`` (a resumed run logs them again)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            step = json.loads(line).get("step", 0)
        except ValueError:
            continue  # a line torn by a crash
        if step <= last_step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


class MetricsLogger:
    """Writes one record per logging step to every sink."""

    def __init__(
        self,
        output_dir: Path,
        *,
        total_steps: int,
        start_step: int,
        quiet: bool,
        tensorboard: bool,
    ) -> None:
        self.path = output_dir / METRICS_FILENAME
        truncate_metrics(self.path, start_step)
        self._file = self.path.open("a", encoding="utf-8")
        self._writer: Any = None
        if tensorboard and importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            # A resumed run logs the steps after its checkpoint again: purge_step hides
            # the first attempt's events from that step on, as truncate_metrics does.
            self._writer = SummaryWriter(log_dir=str(output_dir / "tensorboard"),
                                         purge_step=start_step + 1 if start_step else None)
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
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "train", total=total_steps, completed=start_step, info=""
            )

    def log(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        step = record["step"]
        if self._writer is not None:
            for key in ("loss", "lr", "grad_norm", "tokens_per_second"):
                if record.get(key) is not None:
                    self._writer.add_scalar(f"train/{key}", record[key], step)
        summary = (
            f"loss {record['loss']:.4f}  lr {record['lr']:.2e}  "
            f"{record['tokens_per_second']:.0f} tok/s"
        )
        if self._progress is not None:
            self._progress.update(self._task, completed=step, info=summary)
        else:
            logger.info(
                "step %d/%d  epoch %d  %s", step, self._total_steps, record["epoch"], summary
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
        if self._writer is not None:
            self._writer.close()
        self._file.close()
