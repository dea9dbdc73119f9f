"""``<ckpt_output_dir>/metrics.jsonl``: one JSON object per logged record, always on.

Training records keep the engine's keys (``step``, ``epoch``, ``loss``, ``lr``,
``grad_norm``, ``tokens``...); evaluation records carry ``val_loss``,
``val_num_tokens`` and ``val_num_samples`` with their ``step`` and ``epoch``.
A resumed run first drops the lines after its checkpoint's step (it logs them again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ._base import Tracker

if TYPE_CHECKING:
    from ..callbacks import TrainingHubContext

__all__ = ["METRICS_FILENAME", "JsonlTracker", "truncate_metrics"]

METRICS_FILENAME: Final = "metrics.jsonl"


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


class JsonlTracker(Tracker):
    """Appends each record to metrics.jsonl (opened per line: nothing is lost on a crash)."""

    path: Path | None = None

    def start(self, context: TrainingHubContext) -> bool:
        if not context.output_dir:
            return False
        self.path = Path(context.output_dir) / METRICS_FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        truncate_metrics(self.path, context.step)
        return True

    def write(self, context: TrainingHubContext, record: dict[str, Any], *, section: str) -> None:
        line: dict[str, Any] = {"step": context.step, "epoch": context.epoch}
        line.update(record)
        if "learning_rate" in line and "lr" not in line:  # TRL's name; the file says lr
            line["lr"] = line.pop("learning_rate")
        assert self.path is not None
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
