"""``estimate_time``: a run's wall time, from a short calibration run on this machine.

The run's plan (every step's tokens) comes from its data, tokenized as the run will
tokenize it (the cache is then reused by the run). A copy of the run trains
``calibration_steps + 1`` steps in a temporary folder (no checkpoint, no
evaluation, no tracker but metrics.jsonl); the first step's time and the tokens/s
of the others give the prediction, as the engine's own ETA does
(:class:`training_hub.engine.eta.RunClock`). What it leaves out: model loading and
tokenizing before the first step, evaluations and checkpoint writes.
torch is imported only when it runs.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from ._errors import ParameterError, TrainingError

__all__ = ["calibration_params", "estimate_time", "planned_tokens"]


def planned_tokens(params: Any) -> list[int]:
    """Tokens (all ranks together) of every step the run of ``params`` will train."""
    from .engine.eta import planned_step_tokens
    from .engine.evaluation import load_run_data
    from .engine.model import load_tokenizer
    from .engine.recipe import step_batcher
    from .hub import resolve_inputs

    params = resolve_inputs(params)
    dataset, _ = load_run_data(params, load_tokenizer(params))
    batcher = step_batcher(params, dataset, world_size=params.nproc_per_node * params.nnodes,
                           rank=0)
    total = batcher.total_steps
    if params.max_steps is not None:  # as the recipe does: max_steps overrides num_epochs
        batcher.num_epochs = math.ceil(params.max_steps / batcher.steps_per_epoch)
        total = params.max_steps
    return planned_step_tokens(batcher, 0, total)


def calibration_params(params: Any, steps: int, output_dir: str) -> Any:
    """A copy of ``params`` that trains ``steps`` steps into ``output_dir`` and writes
    nothing but metrics.jsonl (one record per step)."""
    quiet_run = {
        "ckpt_output_dir": output_dir, "max_steps": steps, "logging_steps": 1,
        "save_every": None, "save_samples": None, "checkpoint_at_epoch": False,
        "save_final_checkpoint": False, "keep_last_n": None, "resume": "none",
        "overwrite": True, "quiet": True, "checkpoint_storage": None,
        "validation_split": 0.0, "eval_data_path": None, "validation_frequency": None,
        "save_best_metric": None, "tensorboard": False, "mlflow_tracking_uri": None,
        "mlflow_experiment_name": None, "mlflow_run_name": None, "wandb_project": None,
        "callbacks": [],
    }
    fields = type(params).model_fields
    return params.model_copy(update={k: v for k, v in quiet_run.items() if k in fields})


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
    plan = planned_tokens(params)
    steps = min(len(plan), calibration_steps + 1)
    trainer = create_algorithm(algorithm, backend or choose_backend(algorithm))
    with tempfile.TemporaryDirectory(prefix="th-calibration-") as folder:
        trainer.run(calibration_params(params, steps, folder))
        durations = _step_durations(Path(folder) / "metrics.jsonl")
    if len(durations) != steps:
        raise TrainingError(
            f"The calibration run trained {len(durations)} steps instead of {steps}; "
            "the time estimate needs every step's record."
        )
    if steps == len(plan) and steps <= calibration_steps:  # the whole run was the calibration
        return TimePrediction(
            steps=len(plan), tokens=sum(plan), calibration_steps=steps - 1,
            tokens_per_second=sum(plan) / max(sum(durations), 1e-9),
            first_step_s=durations[0], total_s=sum(durations),
        )
    clock = RunClock(plan, calibration_steps=steps - 1)
    for seconds in durations:
        clock.step_done(seconds)
    assert clock.prediction is not None
    return clock.prediction
