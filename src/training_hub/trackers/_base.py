"""The shape every built-in tracker shares: start on ``on_train_begin``, log each record of
``on_log`` and ``on_evaluate``, finish on ``on_train_end``; main process only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from . import tracker_metrics

if TYPE_CHECKING:
    from ..callbacks import TrainingHubContext

__all__ = ["Tracker"]


class Tracker:
    """A tracker plugin; subclasses implement :meth:`start`, :meth:`write` and :meth:`finish`.

    One run at a time per process: ``on_train_begin`` starts (when :meth:`start`
    says the run asks for this tracker), ``on_train_end`` finishes. An instance is
    both a pluggy plugin (its methods are hook implementations) and a callback.
    """

    run_on_all_ranks = False

    def __init__(self) -> None:
        self.active = False

    def start(self, context: TrainingHubContext) -> bool:
        """Open the tracker for this run; False when the run does not ask for it."""
        raise NotImplementedError

    def write(self, context: TrainingHubContext, record: dict[str, Any], *, section: str) -> None:
        """Log one record: a ``train`` record (on_log) or an ``eval`` one (on_evaluate)."""
        self.write_scalars(tracker_metrics(record, section=section), context.step)

    def write_scalars(self, scalars: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def finish(self, context: TrainingHubContext) -> None:
        """Close what :meth:`start` opened (also called when a new run starts first)."""

    @hookimpl
    def on_train_begin(self, context: TrainingHubContext) -> None:
        if not context.is_main_process:
            return
        if self.active:
            self.finish(context)
        self.active = False
        self.active = self.start(context)

    @hookimpl
    def on_log(self, context: TrainingHubContext) -> None:
        if self.active and context.is_main_process:
            self.write(context, dict(context.metrics), section="train")

    @hookimpl
    def on_evaluate(self, context: TrainingHubContext) -> None:
        if self.active and context.is_main_process:
            self.write(context, dict(context.metrics), section="eval")

    @hookimpl
    def on_train_end(self, context: TrainingHubContext) -> None:
        if self.active and context.is_main_process:
            self.active = False
            self.finish(context)
