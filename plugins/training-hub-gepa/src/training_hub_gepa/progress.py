"""From the gepa library's events to training-hub's callbacks, files and stop requests.

:class:`ProgressBridge` is a gepa callback. Each gepa iteration is one step:
``on_step_begin`` / ``on_step_end`` and an ``on_log`` record; each validation
evaluation of a candidate is an ``on_evaluate`` (``val_score``,
``best_val_score``...), after which the results so far are written to
``output_dir`` (``on_save``). :class:`ControlStopper` is a gepa stopper: it ends
the search at the next iteration when a callback sets
``control.should_training_stop`` or a language model failed.
"""

from __future__ import annotations

from typing import Any

from training_hub.callbacks import CallbackRunner, TrainingHubContext

from .lm import _Failures
from .result import GEPARunResult, summarize, write_result

__all__ = ["ControlStopper", "ProgressBridge"]


class ProgressBridge:
    """Follows a gepa run: fires training-hub events, keeps and writes the results so far."""

    def __init__(self, runner: CallbackRunner, context: TrainingHubContext, *,
                 valset: list[Any], output_dir: str | None) -> None:
        self.runner = runner
        self.context = context
        self.valset = valset
        self.output_dir = output_dir
        self.state: Any = None
        self.seed: tuple[dict[str, str], dict[Any, float]] | None = None
        self.metric_calls = 0
        self.history: list[dict[str, Any]] = []
        self.best_score: float | None = None

    # --- gepa callback events ---------------------------------------------------------
    def on_iteration_start(self, event: dict[str, Any]) -> None:
        self.state = event["state"]
        self.context.step = int(event["iteration"])
        self.runner.fire("on_step_begin", self.context)

    def on_budget_updated(self, event: dict[str, Any]) -> None:
        self.metric_calls = int(event["metric_calls_used"])

    def on_valset_evaluated(self, event: dict[str, Any]) -> None:
        score = float(event["average_score"])
        if event["candidate_idx"] == 0 and self.seed is None:
            self.seed = (dict(event["candidate"]), dict(event["scores_by_val_id"]))
        self.best_score = score if self.best_score is None else max(self.best_score, score)
        record = {
            "iteration": int(event["iteration"]),
            "candidate_index": int(event["candidate_idx"]),
            "val_score": score,
            "best_val_score": self.best_score,
            "metric_calls": self.metric_calls,
        }
        self.history.append(record)
        self.context.metrics = {**record, "num_candidates": self._num_candidates()}
        self.runner.fire("on_evaluate", self.context)
        self.save()

    def on_iteration_end(self, event: dict[str, Any]) -> None:
        self.context.metrics = {
            "iteration": int(event["iteration"]),
            "proposal_accepted": bool(event["proposal_accepted"]),
            "best_val_score": self.best_score,
            "metric_calls": self.metric_calls,
            "num_candidates": self._num_candidates(),
        }
        self.runner.fire("on_step_end", self.context)
        self.runner.fire("on_log", self.context)
        control = self.context.control
        if control.should_evaluate:
            # Every candidate is already scored on the whole validation set: report the best.
            control.should_evaluate = False
            self.context.metrics = {"val_score": self.best_score,
                                    "best_val_score": self.best_score,
                                    "metric_calls": self.metric_calls}
            self.runner.fire("on_evaluate", self.context)
        if control.should_save:
            control.should_save = False
            self.save()

    # --- results so far -----------------------------------------------------------------
    def _num_candidates(self) -> int:
        if self.state is not None:
            return len(self.state.program_candidates)
        return 1 if self.seed is not None else 0

    def snapshot(self, *, error: str | None = None) -> GEPARunResult | None:
        """The results so far (``complete=False``), or None before any candidate was scored."""
        if self.state is not None:
            from gepa.core.result import GEPAResult

            gepa_result = GEPAResult.from_state(self.state)
            return summarize(
                gepa_result.candidates, gepa_result.parents, gepa_result.val_subscores,
                total_metric_calls=self.metric_calls or int(gepa_result.total_metric_calls or 0),
                discovered_at=gepa_result.discovery_eval_counts, valset=self.valset,
                complete=False, output_dir=self.output_dir, error=error, history=self.history,
            )
        if self.seed is not None:
            candidate, scores = self.seed
            return summarize(
                [candidate], [[None]], [scores], total_metric_calls=self.metric_calls,
                discovered_at=[0], valset=self.valset, complete=False,
                output_dir=self.output_dir, error=error, history=self.history,
            )
        return None

    def save(self, result: GEPARunResult | None = None, gepa_result: Any = None) -> None:
        """Write ``result`` (default: the results so far) to output_dir and fire ``on_save``."""
        if self.output_dir is None:
            return
        result = result or self.snapshot()
        if result is None:
            return
        write_result(result, self.output_dir, gepa_result)
        self.context.checkpoint = self.output_dir
        self.runner.fire("on_save", self.context)


class ControlStopper:
    """A gepa stopper: True once a callback asked to stop or a language model failed."""

    def __init__(self, context: TrainingHubContext, failures: _Failures) -> None:
        self.context = context
        self.failures = failures

    def __call__(self, state: Any) -> bool:
        return self.context.control.should_training_stop or self.failures.error is not None
