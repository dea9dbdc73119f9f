"""How long a run takes: tokens/s measured on its first steps, times the tokens it plans.

The engine knows every step's tokens before it trains (the batcher's plan of the
run: which samples, in which order). :class:`RunClock` times the steps as they
finish; once ``calibration_steps`` steps after the first (which also pays for
lazy initialisation) are timed, it predicts the rest of the run as the first step's
time plus the remaining planned tokens at the measured tokens/s. The recipe prints
that prediction, puts ``eta_s`` into each logged record and the progress bar shows
it as the ETA. ``th estimate ALGO --data-path ...`` runs the same calibration on a
copy of the run (:mod:`training_hub._time_estimate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CALIBRATION_STEPS",
    "RunClock",
    "TimePrediction",
    "format_seconds",
    "planned_step_tokens",
]

#: Steps timed after the first one before the run's time is predicted.
CALIBRATION_STEPS = 3


def planned_step_tokens(batcher: Any, start_step: int, total_steps: int) -> list[int]:
    """Tokens (all ranks together) of each step from ``start_step`` to ``total_steps``,
    read off the batcher's sample order without packing anything."""
    lengths = batcher.dataset.lengths
    per_epoch = batcher.steps_per_epoch
    size = batcher.effective_batch_size
    tokens: list[int] = []
    order = None
    order_epoch = -1
    for step in range(start_step, total_steps):
        epoch, in_epoch = divmod(step, per_epoch)
        if epoch != order_epoch:
            order, order_epoch = batcher.epoch_order(epoch), epoch
        assert order is not None
        tokens.append(int(lengths[order[in_epoch * size:(in_epoch + 1) * size]].sum()))
    return tokens


def format_seconds(seconds: float) -> str:
    """``1h02m03s``, ``4m05s`` or ``12s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass(frozen=True)
class TimePrediction:
    """A run's predicted wall time, from the tokens/s of its calibration steps."""

    steps: int
    tokens: int
    calibration_steps: int
    tokens_per_second: float
    first_step_s: float
    total_s: float

    def describe(self) -> str:
        return (f"time estimate: {self.steps} steps, {self.tokens:,} tokens at "
                f"{self.tokens_per_second:,.0f} tokens/s (measured on steps 2-"
                f"{self.calibration_steps + 1}): about {format_seconds(self.total_s)} of training")


class RunClock:
    """Times the steps of a run and predicts the time left from the tokens still planned."""

    def __init__(self, step_tokens: Sequence[int], *,
                 calibration_steps: int = CALIBRATION_STEPS) -> None:
        self.step_tokens = list(step_tokens)
        self.calibration_steps = calibration_steps
        self.durations: list[float] = []
        self.prediction: TimePrediction | None = None

    @property
    def tokens_per_second(self) -> float | None:
        """Tokens/s of the steps timed after the first one (None until calibrated)."""
        if len(self.durations) < 1 + self.calibration_steps:
            return None
        seconds = sum(self.durations[1:])
        tokens = sum(self.step_tokens[1:len(self.durations)])
        return tokens / seconds if seconds > 0 else math.inf

    def step_done(self, seconds: float) -> TimePrediction | None:
        """Record the wall time of the next step; returns the prediction once, when the
        calibration steps are done."""
        self.durations.append(seconds)
        if self.prediction is not None or self.tokens_per_second is None:
            return None
        rate = self.tokens_per_second
        total = self.durations[0] + sum(self.step_tokens[1:]) / rate
        self.prediction = TimePrediction(
            steps=len(self.step_tokens), tokens=sum(self.step_tokens),
            calibration_steps=self.calibration_steps, tokens_per_second=rate,
            first_step_s=self.durations[0], total_s=total,
        )
        return self.prediction

    @property
    def remaining_s(self) -> float | None:
        """Seconds left at the rate measured so far (None until calibrated)."""
        rate = self.tokens_per_second
        if rate is None:
            return None
        return sum(self.step_tokens[len(self.durations):]) / rate
