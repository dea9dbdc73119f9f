"""Callbacks of the callback tests, in a module of their own so that torchrun workers can
import them (a callback reaches the workers by import path, pickled)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from training_hub.callbacks import EVENTS, TrainingHubCallback, TrainingHubContext

__all__ = [
    "FileRecorder",
    "Raising",
    "Recorder",
    "RequestAtStep",
    "SaveAtOne",
    "StopAtTwo",
    "finite",
    "snapshot",
]


def snapshot(event: str, context: TrainingHubContext) -> dict[str, Any]:
    """The context as an event saw it (the context object is reused: copy the values)."""
    return {
        "event": event,
        "step": context.step,
        "epoch": context.epoch,
        "loss": context.loss,
        "learning_rate": context.learning_rate,
        "is_main_process": context.is_main_process,
        "output_dir": context.output_dir,
        "metrics": dict(context.metrics),
        "rank": context.rank,
        "world_size": context.world_size,
        "checkpoint": context.checkpoint,
        "algorithm": context.algorithm,
        "backend": context.backend,
        "has_result": context.result is not None,
    }


class Recorder(TrainingHubCallback):
    """Remembers every event with a snapshot of its context."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def names(self) -> list[str]:
        return [e["event"] for e in self.events]

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]


def _recording(event: str) -> Any:
    def record(self: Recorder, context: TrainingHubContext) -> None:
        self.events.append(snapshot(event, context))

    record.__name__ = event
    return record


for _event in EVENTS:
    setattr(Recorder, _event, _recording(_event))


class FileRecorder(TrainingHubCallback):
    """Appends each event to ``<folder>/<label>-rank<R>.jsonl`` (for torchrun workers)."""

    def __init__(self, folder: str | Path, label: str, *, all_ranks: bool) -> None:
        self.folder = str(folder)
        self.label = label
        self.run_on_all_ranks = all_ranks

    def _write(self, event: str, context: TrainingHubContext) -> None:
        record = snapshot(event, context)
        record["metrics"] = {k: v for k, v in record["metrics"].items()
                             if isinstance(v, (int, float, str, bool)) or v is None}
        path = Path(self.folder) / f"{self.label}-rank{context.rank}.jsonl"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    @staticmethod
    def read(folder: str | Path, label: str, rank: int) -> list[dict[str, Any]]:
        path = Path(folder) / f"{label}-rank{rank}.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


for _event in EVENTS:
    setattr(FileRecorder, _event,
            (lambda name: lambda self, context: self._write(name, context))(_event))


class RequestAtStep(TrainingHubCallback):
    """Sets ``control.<flag>`` in ``on_step_end`` of ``step`` (on ``rank`` only, if given)."""

    run_on_all_ranks = True

    def __init__(self, flag: str, step: int, *, rank: int | None = None) -> None:
        self.flag = flag
        self.step = step
        self.rank = rank

    def on_step_end(self, context: TrainingHubContext) -> None:
        if context.step == self.step and (self.rank is None or context.rank == self.rank):
            setattr(context.control, self.flag, True)


class StopAtTwo(RequestAtStep):
    """``--callback`` takes a class made without arguments: stop after step 2."""

    def __init__(self) -> None:
        super().__init__("should_training_stop", 2)


class SaveAtOne(RequestAtStep):
    """``--callback`` takes a class made without arguments: save at step 1."""

    def __init__(self) -> None:
        super().__init__("should_save", 1)


class Raising(TrainingHubCallback):
    """Raises in every ``on_step_end``; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def on_step_end(self, context: TrainingHubContext) -> None:
        self.calls += 1
        raise RuntimeError(f"callback bug number {self.calls}")


def finite(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)
