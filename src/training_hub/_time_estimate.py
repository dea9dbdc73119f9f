"""``estimate_time``: a run's wall time, from a short calibration run on this machine.

The run's plan (every step's tokens) comes from its data, tokenized as the run will
tokenize it (the cache is then reused by the run). A copy of the run trains
``calibration_steps + 1`` steps in a temporary folder (no tracker but
metrics.jsonl); the first step's time and the tokens/s of the others give the
prediction, as the engine's own ETA does (:class:`training_hub.engine.eta.RunClock`).
When the run plans evaluations or checkpoints, the calibration run evaluates and
writes one checkpoint after its last step, timed by :class:`PauseTimer`, and the
prediction adds the planned ones at those times. What it leaves out: model loading
and tokenizing before the first step, and best-checkpoint copies.
torch is imported only when it runs.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import ParameterError, TrainingError
from .callbacks import TrainingHubCallback, TrainingHubContext

__all__ = [
    "PAUSES_FILENAME",
    "PauseTimer",
    "RunPlan",
    "calibration_params",
    "estimate_time",
    "planned_tokens",
    "run_plan",
]

#: Where :class:`PauseTimer` writes the calibration run's evaluation/checkpoint times.
PAUSES_FILENAME = "pauses.jsonl"


@dataclass(frozen=True)
class RunPlan:
    """What a run will do: every step's tokens (all ranks together), and the steps after
    which it evaluates and writes a checkpoint."""

    step_tokens: list[int]
    evaluation_steps: list[int]
    checkpoint_steps: list[int]


def planned_tokens(params: Any) -> list[int]:
    """Tokens (all ranks together) of every step the run of ``params`` will train."""
    return run_plan(params).step_tokens


def run_plan(params: Any) -> RunPlan:
    """The :class:`RunPlan` of ``params``, from its data tokenized as the run will."""
    from .engine.eta import planned_pauses, planned_step_tokens
    from .engine.evaluation import load_run_data
    from .engine.model import load_tokenizer
    from .engine.recipe import step_batcher
    from .hub import resolve_inputs

    params = resolve_inputs(params)
    dataset, validation = load_run_data(params, load_tokenizer(params))
    batcher = step_batcher(params, dataset, world_size=params.nproc_per_node * params.nnodes,
                           rank=0)
    total = batcher.total_steps
    if params.max_steps is not None:  # as the recipe does: max_steps overrides num_epochs
        batcher.num_epochs = math.ceil(params.max_steps / batcher.steps_per_epoch)
        total = params.max_steps
    evaluations, checkpoints = planned_pauses(params, batcher, 0, total,
                                              evaluates=validation is not None)
    return RunPlan(planned_step_tokens(batcher, 0, total), evaluations, checkpoints)


class PauseTimer(TrainingHubCallback):
    """Times the calibration run's evaluations and checkpoint writes on rank 0: from the
    event before each (the step's end, its log record, the epoch's end, an evaluation) to
    ``on_evaluate``/``on_save``, appended to ``pauses.jsonl`` in the run's folder."""

    def __init__(self) -> None:
        self.last_event = time.perf_counter()

    def _mark(self, context: TrainingHubContext) -> None:
        self.last_event = time.perf_counter()

    on_step_end = on_log = on_epoch_end = _mark

    def _record(self, context: TrainingHubContext, kind: str) -> None:
        now = time.perf_counter()
        line = {"step": context.step, "kind": kind, "seconds": now - self.last_event}
        with (Path(context.output_dir) / PAUSES_FILENAME).open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        self.last_event = time.perf_counter()

    def on_evaluate(self, context: TrainingHubContext) -> None:
        self._record(context, "evaluation")

    def on_save(self, context: TrainingHubContext) -> None:
        self._record(context, "checkpoint")


def calibration_params(params: Any, steps: int, output_dir: str, *,
                       evaluate: bool = False, checkpoint: bool = False) -> Any:
    """A copy of ``params`` that trains ``steps`` steps into ``output_dir`` and writes
    metrics.jsonl (one record per step); with ``evaluate`` it keeps the run's validation
    data and evaluates after its last step, with ``checkpoint`` it writes one checkpoint
    there, both timed by :class:`PauseTimer` (else neither happens)."""
    quiet_run: dict[str, Any] = {
        "ckpt_output_dir": output_dir, "max_steps": steps, "logging_steps": 1,
        "save_every": None, "save_samples": None, "checkpoint_at_epoch": False,
        "save_final_checkpoint": checkpoint, "keep_last_n": None, "resume": "none",
        "overwrite": True, "quiet": True, "checkpoint_storage": None,
        "validation_frequency": None,
        "save_best_metric": None, "tensorboard": False, "mlflow_tracking_uri": None,
        "mlflow_experiment_name": None, "mlflow_run_name": None, "wandb_project": None,
        "callbacks": [PauseTimer()] if evaluate or checkpoint else [],
    }
    if not evaluate:
        quiet_run.update({"validation_split": 0.0, "eval_data_path": None})
    fields = type(params).model_fields
    return params.model_copy(update={k: v for k, v in quiet_run.items() if k in fields})


def _pause_times(folder: Path) -> list[dict[str, Any]]:
    """The calibration run's evaluation and checkpoint times (:class:`PauseTimer`):
    ``{"step", "kind", "seconds"}`` records."""
    path = folder / PAUSES_FILENAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _step_durations(metrics_file: Path) -> list[float]:
    """Wall seconds of each step, from the ``elapsed_s`` of consecutive records."""
    if not metrics_file.is_file():
        raise TrainingError(
            f"The calibration run wrote no {metrics_file.name}: the time estimate needs the "
            "native engine's per-step records (run it on a native backend)."
        )
    records = [json.loads(line) for line in metrics_file.read_text().splitlines() if line]
    elapsed = [float(r["elapsed_s"]) for r in records if "elapsed_s" in r and "loss" in r]
    if not elapsed:
        raise TrainingError(
            f"The calibration run's {metrics_file} holds no elapsed_s: the time estimate needs "
            "the native engine's per-step records (run it on a native backend)."
        )
    return [b - a for a, b in zip([0.0, *elapsed], elapsed, strict=False)]


def estimate_time(
    algorithm: str,
    params: Any,
    *,
    backend: str | None = None,
    calibration_steps: int | None = None,
) -> Any:
    """Predicted training time of ``algorithm`` with validated ``params``: a
    :class:`~training_hub.engine.eta.TimePrediction` (``total_s``, ``tokens_per_second``...)."""
    from ._factory import choose_backend, create_algorithm
    from .engine.eta import CALIBRATION_STEPS, RunClock, TimePrediction

    calibration_steps = CALIBRATION_STEPS if calibration_steps is None else calibration_steps
    if calibration_steps < 1:
        raise ParameterError(
            f"calibration_steps must be at least 1, got {calibration_steps}: the tokens/s are "
            "measured on the steps after the first."
        )
    plan = run_plan(params)
    tokens = plan.step_tokens
    steps = min(len(tokens), calibration_steps + 1)
    evaluate, checkpoint = bool(plan.evaluation_steps), bool(plan.checkpoint_steps)
    trainer = create_algorithm(algorithm, backend or choose_backend(algorithm))
    with tempfile.TemporaryDirectory(prefix="th-calibration-") as folder:
        trainer.run(calibration_params(params, steps, folder, evaluate=evaluate,
                                       checkpoint=checkpoint))
        durations = _step_durations(Path(folder) / "metrics.jsonl")
        paused = _pause_times(Path(folder))
    if len(durations) != steps:
        raise TrainingError(
            f"The calibration run trained {len(durations)} steps instead of {steps}; "
            "the time estimate needs every step's record."
        )
    pauses: dict[str, list[float]] = {"evaluation": [], "checkpoint": []}
    for pause in paused:
        pauses[pause["kind"]].append(pause["seconds"])
        if pause["step"] < steps:  # (an epoch end inside the calibration) the next step's
            durations[pause["step"]] -= pause["seconds"]  # elapsed_s includes it
    evaluation_s, checkpoint_s = (_mean(pauses["evaluation"]), _mean(pauses["checkpoint"]))
    if steps == len(tokens) and steps <= calibration_steps:  # the whole run was the calibration
        evaluations, checkpoints = len(plan.evaluation_steps), len(plan.checkpoint_steps)
        return TimePrediction(
            steps=len(tokens), tokens=sum(tokens), calibration_steps=steps - 1,
            tokens_per_second=sum(tokens) / max(sum(durations), 1e-9),
            first_step_s=durations[0],
            total_s=(sum(durations) + evaluations * (evaluation_s or 0.0)
                     + checkpoints * (checkpoint_s or 0.0)),
            evaluations=evaluations, checkpoints=checkpoints,
            evaluation_s=evaluation_s, checkpoint_s=checkpoint_s,
        )
    clock = RunClock(tokens, calibration_steps=steps - 1,
                     evaluation_steps=plan.evaluation_steps,
                     checkpoint_steps=plan.checkpoint_steps)
    for seconds in durations:
        clock.step_done(seconds)
    for seconds in pauses["evaluation"]:
        clock.evaluation_done(seconds)
    for seconds in pauses["checkpoint"]:
        clock.checkpoint_done(seconds)
    return clock.predict()


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
