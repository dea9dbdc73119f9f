"""Worker: native sft with or without observers, timing each optimizer step itself.

Usage: ``python benchmarks/workers/native_sft_overhead.py SPEC_JSON``. The spec holds
the training parameters (``params``) and ``observed``: true runs the engine with what
a user's run has, one no-op callback implementing all nine events plus the plugin
bridge (whose built-in JSONL tracker writes metrics.jsonl); false runs it with no
callback at all (no metrics.jsonl). Either way the step times come from a model
adapter's ``after_optimizer_step`` clock, the same in both, so the two variants are
measured by the same instrument. The observed run also sums the time spent inside
``CallbackRunner.fire`` (every callback, the bridge's hooks and the trackers' writes),
read at the same clock: the observers' own cost, free of run-to-run noise.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import emit_worker_result

__all__ = ["main"]


def main() -> None:
    spec = json.loads(sys.argv[1])
    from training_hub._plugin_events import plugin_bridge
    from training_hub.callbacks import EVENTS, CallbackRunner, TrainingHubCallback
    from training_hub.engine import ModelAdapter, train
    from training_hub.training_params import TrainingParams

    inside_fire = [0.0]
    fire = CallbackRunner.fire

    def timed_fire(self: CallbackRunner, event: str, context: Any) -> None:
        start = time.perf_counter()
        try:
            fire(self, event, context)
        finally:
            inside_fire[0] += time.perf_counter() - start

    CallbackRunner.fire = timed_fire  # type: ignore[method-assign]

    class StepClock(ModelAdapter):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.inside_fire: list[float] = []

        def after_optimizer_step(self, model: Any) -> None:
            self.times.append(time.perf_counter())
            self.inside_fire.append(inside_fire[0])

    def _nothing(self: Any, context: Any) -> None:
        return None

    # every event overridden, so the runner calls each of them (the worst case)
    NoOp = type("NoOpCallback", (TrainingHubCallback,), dict.fromkeys(EVENTS, _nothing))

    clock = StepClock()
    callbacks = [NoOp(), plugin_bridge()] if spec["observed"] else []
    result = train(TrainingParams(**spec["params"]), clock, callbacks)
    start = clock.times[0]
    metrics = Path(result.metrics_path)
    logged = metrics.read_text().splitlines() if metrics.is_file() else []
    emit_worker_result({
        "tokens": [], "losses": [],
        "seconds": [t - start for t in clock.times],  # from the end of step 1
        "extra": {"steps": result.steps, "total_tokens": result.tokens,
                  "metrics_lines": len(logged),
                  # cumulative seconds inside CallbackRunner.fire at each step's clock
                  "inside_fire_s": clock.inside_fire},
    })


if __name__ == "__main__":
    main()
