"""Experiment trackers: metrics.jsonl, TensorBoard, MLflow and Weights & Biases.

Each tracker is a built-in plugin of the training-event hooks (``on_train_begin``,
``on_log``, ``on_evaluate``, ``on_train_end`` of :mod:`training_hub.hookspecs`),
registered with the plugin manager exactly as a third-party tracker would be: it
sees every run of every algorithm and backend that fires these events, and logs on
the main process only. Which ones are active follows the run's parameters:

- metrics.jsonl: always (``<ckpt_output_dir>/metrics.jsonl``, the engine's keys).
- TensorBoard: ``tensorboard=True`` (the default) and the package installed;
  ``tensorboard_log_dir`` chooses the folder (an error when it cannot be honoured).
- MLflow: any ``mlflow_*`` parameter set (an error when mlflow is not installed).
- W&B: any ``wandb_*`` parameter set (an error when wandb is not installed).

Every backend reports the same metric names, :data:`METRIC_NAMES`: ``train/loss``,
``train/learning_rate``, ``train/grad_norm``, ``eval/val_loss``... This module is
light; each tracker imports its library only when a run starts.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "BUILTIN_TRACKERS",
    "METRIC_NAMES",
    "builtin_tracker_plugins",
    "default_trackers",
    "mlflow_requested",
    "tracker_metrics",
    "unusable_tracker_params",
    "wandb_requested",
]

#: Record keys (engine and TRL) -> the one name every tracker shows.
METRIC_NAMES: Final[Mapping[str, str]] = {
    "loss": "train/loss",
    "lr": "train/learning_rate",
    "learning_rate": "train/learning_rate",
    "grad_norm": "train/grad_norm",
    "tokens_per_second": "train/tokens_per_second",
    "num_loss_tokens": "train/num_loss_tokens",
    "tokens": "train/tokens",
    "val_loss": "eval/val_loss",
    "eval_loss": "eval/val_loss",
    "val_num_tokens": "eval/num_tokens",
    "val_num_samples": "eval/num_samples",
}
#: Record keys that are positions or flags, not metrics to chart.
_NOT_METRICS: Final = frozenset({"step", "epoch", "elapsed_s", "eta_s", "skipped"})

#: Module:attribute of each built-in tracker plugin, in the order they are registered.
BUILTIN_TRACKERS: Final = (
    ("training_hub.trackers.jsonl", "training_hub.trackers._jsonl:JsonlTracker"),
    ("training_hub.trackers.tensorboard", "training_hub.trackers._tensorboard:TensorBoardTracker"),
    ("training_hub.trackers.mlflow", "training_hub.trackers._mlflow:MLflowTracker"),
    ("training_hub.trackers.wandb", "training_hub.trackers._wandb:WandbTracker"),
)

_MLFLOW_FIELDS: Final = ("mlflow_tracking_uri", "mlflow_experiment_name", "mlflow_run_name")
_WANDB_FIELDS: Final = ("wandb_project", "wandb_entity", "wandb_run_name")


def tracker_metrics(metrics: Mapping[str, Any], *, section: str) -> dict[str, float]:
    """The numbers of a record under their tracker names; a key without a fixed name is
    shown as ``<section>/<key>`` (``section`` is ``train`` for on_log, ``eval`` for
    on_evaluate), so nothing a backend logs is dropped."""
    named: dict[str, float] = {}
    for key, value in metrics.items():
        if key in _NOT_METRICS or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            continue
        named[METRIC_NAMES.get(key, f"{section}/{key}")] = float(value)
    return named


def _value(params: Any, name: str) -> Any:
    if isinstance(params, Mapping):
        return params.get(name)
    return getattr(params, name, None)


def mlflow_requested(params: Any) -> bool:
    """True when the run asks for MLflow (any ``mlflow_*`` parameter set)."""
    return any(_value(params, name) is not None for name in _MLFLOW_FIELDS)


def wandb_requested(params: Any) -> bool:
    """True when the run asks for W&B (any ``wandb_*`` parameter set)."""
    return any(_value(params, name) is not None for name in _WANDB_FIELDS)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def unusable_tracker_params(params: Any) -> list[str]:
    """One message per tracker parameter that asks for something this environment cannot
    do (checked when the parameters are validated, before anything runs)."""
    problems = []
    log_dir = _value(params, "tensorboard_log_dir")
    if log_dir is not None and not _value(params, "tensorboard"):
        problems.append(
            f"tensorboard_log_dir='{log_dir}' asks for TensorBoard logs but tensorboard=False: "
            "remove one of them"
        )
    elif log_dir is not None and not _installed("tensorboard"):
        problems.append(
            f"tensorboard_log_dir='{log_dir}' needs the tensorboard package: "
            "pip install 'training-hub-core[tensorboard]'"
        )
    if mlflow_requested(params) and not _installed("mlflow"):
        given = ", ".join(n for n in _MLFLOW_FIELDS if _value(params, n) is not None)
        problems.append(
            f"{given} asks for MLflow logging, but mlflow is not installed: "
            "pip install 'training-hub-core[mlflow]'"
        )
    if wandb_requested(params) and not _installed("wandb"):
        given = ", ".join(n for n in _WANDB_FIELDS if _value(params, n) is not None)
        problems.append(
            f"{given} asks for Weights & Biases logging, but wandb is not installed: "
            "pip install 'training-hub-core[wandb]'"
        )
    return problems


def builtin_tracker_plugins() -> list[tuple[str, object]]:
    """``(name, plugin)`` of every built-in tracker, new instances, to register with the
    plugin manager (each is also a plain callback)."""
    import importlib

    plugins = []
    for name, target in BUILTIN_TRACKERS:
        module_name, _, attribute = target.partition(":")
        plugins.append((name, getattr(importlib.import_module(module_name), attribute)()))
    return plugins


def default_trackers() -> list[object]:
    """The built-in trackers as callbacks, for a run started without the plugin bridge
    (``training_hub.engine.train(params)`` called directly)."""
    return [plugin for _, plugin in builtin_tracker_plugins()]
