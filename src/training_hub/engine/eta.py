"""How long a run takes: tokens/s measured on its first steps, times the tokens it plans.

The engine knows every step's tokens before it trains (the batcher's plan of the
run: which samples, in which order). :class:`RunClock` times the steps as they
finish; once ``calibration_steps`` steps after the first (which also pays for
lazy initialisation) are timed, it predicts the rest of the run as the first step's
time plus the remaining planned tokens at the measured tokens/s. The recipe prints
that prediction, puts ``eta_s`` into each logged record and the progress bar shows
it as the ETA. Evaluations and checkpoint writes are timed apart from the steps
(they would lower the measured tokens/s): the prediction and the ETA add the
evaluations and checkpoints the run plans (:func:`planned_pauses`) at the mean
time of those measured so far. ``th estimate ALGO --data-path ...`` runs the same
calibration on a copy of the run (:mod:`training_hub._time_estimate`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "CALIBRATION_STEPS",
    "RunClock",
    "TimePrediction",
    "format_seconds",
    "planned_pauses",
    "planned_step_tokens",
]

#: Steps timed after the first one before the run's time is predicted.
CALIBRATION_STEPS = 3


def _planned_steps(batcher: Any, start_step: int, total_steps: int) -> list[tuple[int, int]]:
    """(tokens, samples) of each step from ``start_step`` to ``total_steps`` (all ranks
    together), read off the batcher's sample order without packing anything."""
    lengths = batcher.dataset.lengths
    per_epoch = batcher.steps_per_epoch
    size = batcher.effective_batch_size
    steps: list[tuple[int, int]] = []
    order = None
    order_epoch = -1
    for step in range(start_step, total_steps):
        epoch, in_epoch = divmod(step, per_epoch)
        if epoch != order_epoch:
            order, order_epoch = batcher.epoch_order(epoch), epoch
        assert order is not None
        chosen = order[in_epoch * size:(in_epoch + 1) * size]
        steps.append((int(lengths[chosen].sum()), len(chosen)))
    return steps


def planned_step_tokens(batcher: Any, start_step: int, total_steps: int) -> list[int]:
    """Tokens (all ranks together) of each step from ``start_step`` to ``total_steps``,
    read off the batcher's sample order without packing anything."""
    return [tokens for tokens, _ in _planned_steps(batcher, start_step, total_steps)]


def planned_pauses(
    params: Any,
    batcher: Any,
    start_step: int,
    total_steps: int,
    *,
    evaluates: bool,
    samples_before: int = 0,
) -> tuple[list[int], list[int]]:
    """The steps after which the run evaluates, and those after which it writes a
    checkpoint, as the training loop decides them (callback requests and best-checkpoint
    copies, which nothing can plan, aside). ``evaluates``: the run has validation data."""
    from .._peer_params import samples_checkpoint_due
    from .evaluation import evaluation_due

    per_epoch = batcher.steps_per_epoch
    evaluations: list[int] = []
    checkpoints: list[int] = []
    samples = samples_before
    planned = _planned_steps(batcher, start_step, total_steps)
    for step, (_, step_samples) in enumerate(planned, start=start_step + 1):
        epoch_end, finished = step % per_epoch == 0, step == total_steps
        if evaluates and evaluation_due(step, frequency=params.validation_frequency,
                                        epoch_end=epoch_end, finished=finished,
                                        requested=False):
            evaluations.append(step)
        full_state = (
            (params.save_every is not None and step % params.save_every == 0)
            or samples_checkpoint_due(samples, step_samples, params.save_samples)
            or (finished and params.save_final_checkpoint)
        )
        if full_state or (epoch_end and params.checkpoint_at_epoch):
            checkpoints.append(step)
        samples += step_samples
    return evaluations, checkpoints


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
    """A run's predicted wall time: its steps at the tokens/s of the calibration steps,
    plus its planned evaluations and checkpoint writes at their measured mean times
    (``evaluation_s``/``checkpoint_s``; None where none was timed yet: not counted)."""

    steps: int
    tokens: int
    calibration_steps: int
    tokens_per_second: float
    first_step_s: float
    total_s: float
    evaluations: int = 0
    checkpoints: int = 0
    evaluation_s: float | None = None
    checkpoint_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields and ``training_s`` (``th estimate --json``)."""
        return {**asdict(self), "training_s": self.training_s}

    @property
    def training_s(self) -> float:
        """The steps' share of ``total_s`` (evaluations and checkpoint writes left out)."""
        return self.total_s - (self.evaluations * (self.evaluation_s or 0.0)
                               + self.checkpoints * (self.checkpoint_s or 0.0))

    def describe(self) -> str:
        pauses = []
        for count, each, what in ((self.evaluations, self.evaluation_s, "evaluation"),
                                  (self.checkpoints, self.checkpoint_s, "checkpoint")):
            if count:
                timed = "not timed yet" if each is None else f"{each:.1f}s each"
                pauses.append(f"{count} {what}{'s' if count > 1 else ''} ({timed})")
        extra = f", plus {' and '.join(pauses)}" if pauses else ""
        return (f"time estimate: {self.steps} steps, {self.tokens:,} tokens at "
                f"{self.tokens_per_second:,.0f} tokens/s (measured on steps 2-"
                f"{self.calibration_steps + 1}){extra}: about "
                f"{format_seconds(self.total_s)} of training")


class RunClock:
    """Times the steps of a run and predicts the time left from the tokens still planned,
    plus the evaluations and checkpoint writes still planned."""

    def __init__(self, step_tokens: Sequence[int], *,
                 calibration_steps: int = CALIBRATION_STEPS,
                 evaluation_steps: Collection[int] = (),
                 checkpoint_steps: Collection[int] = (),
                 start_step: int = 0) -> None:
        self.step_tokens = list(step_tokens)
        self.calibration_steps = calibration_steps
        self.start_step = start_step
        self.durations: list[float] = []
        self.prediction: TimePrediction | None = None
        self.planned = {"evaluation": sorted(evaluation_steps),
                        "checkpoint": sorted(checkpoint_steps)}
        self.pauses: dict[str, list[float]] = {"evaluation": [], "checkpoint": []}
        self._paused_at: dict[str, int] = {"evaluation": -1, "checkpoint": -1}

    @property
    def step(self) -> int:
        """The run's step number of the last step timed."""
        return self.start_step + len(self.durations)

    @property
    def tokens_per_second(self) -> float | None:
        """Tokens/s of the steps timed after the first one (None until calibrated)."""
        if len(self.durations) < 1 + self.calibration_steps:
            return None
        seconds = sum(self.durations[1:])
        tokens = sum(self.step_tokens[1:len(self.durations)])
        return tokens / seconds if seconds > 0 else math.inf

    def step_done(self, seconds: float) -> TimePrediction | None:
        """Record the wall time of the next step (its evaluation and checkpoint aside);
        returns the prediction once, when the calibration steps are done."""
        self.durations.append(seconds)
        if self.prediction is not None or self.tokens_per_second is None:
            return None
        self.prediction = self.predict()
        return self.prediction

    def evaluation_done(self, seconds: float) -> None:
        """Record the wall time of an evaluation after the last step timed."""
        self._pause_done("evaluation", seconds)

    def checkpoint_done(self, seconds: float) -> None:
        """Record the wall time of a checkpoint write after the last step timed."""
        self._pause_done("checkpoint", seconds)

    def _pause_done(self, kind: str, seconds: float) -> None:
        self.pauses[kind].append(seconds)
        self._paused_at[kind] = self.step

    def mean_pause_s(self, kind: str) -> float | None:
        """Mean seconds of the evaluations or checkpoints timed so far (None: none yet)."""
        timed = self.pauses[kind]
        return sum(timed) / len(timed) if timed else None

    def pauses_left(self, kind: str) -> int:
        """Planned evaluations or checkpoints not done yet."""
        done_at = self._paused_at[kind]
        return sum(1 for step in self.planned[kind]
                   if step > self.step or (step == self.step and done_at != step))

    def predict(self) -> TimePrediction:
        """The whole run's time at the rates measured so far (needs the calibration)."""
        rate = self.tokens_per_second
        if rate is None:
            raise ValueError(f"not calibrated: {len(self.durations)} steps timed, "
                             f"{1 + self.calibration_steps} needed")
        evaluation_s = self.mean_pause_s("evaluation")
        checkpoint_s = self.mean_pause_s("checkpoint")
        evaluations, checkpoints = len(self.planned["evaluation"]), len(self.planned["checkpoint"])
        total = (self.durations[0] + sum(self.step_tokens[1:]) / rate
                 + evaluations * (evaluation_s or 0.0) + checkpoints * (checkpoint_s or 0.0))
        return TimePrediction(
            steps=len(self.step_tokens), tokens=sum(self.step_tokens),
            calibration_steps=self.calibration_steps, tokens_per_second=rate,
            first_step_s=self.durations[0], total_s=total,
            evaluations=evaluations, checkpoints=checkpoints,
            evaluation_s=evaluation_s, checkpoint_s=checkpoint_s,
        )

    @property
    def remaining_s(self) -> float | None:
        """Seconds left at the rates measured so far (None until calibrated): the planned
        tokens not trained yet, and the planned evaluations and checkpoints not done yet
        (those of a kind none of which was timed yet are not counted)."""
        rate = self.tokens_per_second
        if rate is None:
            return None
        left = sum(self.step_tokens[len(self.durations):]) / rate
        for kind in ("evaluation", "checkpoint"):
            left += self.pauses_left(kind) * (self.mean_pause_s(kind) or 0.0)
        return left
