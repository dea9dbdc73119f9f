"""MLflow: one MLflow run per training run, with the parameters and every metric per step.

On when any of ``mlflow_tracking_uri``, ``mlflow_experiment_name``,
``mlflow_run_name`` is set (mlflow must be installed: the ``mlflow`` extra).
Without a URI, mlflow's own ``MLFLOW_TRACKING_URI`` applies; without an
experiment name, ``MLFLOW_EXPERIMENT_NAME`` or mlflow's default experiment.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from . import mlflow_requested
from ._base import Tracker

if TYPE_CHECKING:
    from ..callbacks import TrainingHubContext

__all__ = ["MLflowTracker"]

_MAX_PARAM_LENGTH = 500  # mlflow refuses longer values on older servers
_BATCH = 100  # mlflow's limit of params per log_batch call


class MLflowTracker(Tracker):
    client: Any = None
    run_id: str | None = None

    def start(self, context: TrainingHubContext) -> bool:
        params = context.params
        if not mlflow_requested(params):
            return False
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        uri = params.get("mlflow_tracking_uri")
        if uri and uri.startswith("file:"):
            # mlflow >= 3.7 refuses file stores unless allowed; this run asked for one.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri) if uri else MlflowClient()
        experiment_id = "0"
        name = params.get("mlflow_experiment_name") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if name:
            experiment = self.client.get_experiment_by_name(name)
            experiment_id = (
                experiment.experiment_id if experiment else self.client.create_experiment(name)
            )
        tags = {
            "training_hub.algorithm": context.algorithm,
            "training_hub.backend": context.backend,
        }
        run = self.client.create_run(
            experiment_id, run_name=params.get("mlflow_run_name"),
            tags={k: v for k, v in tags.items() if v},
        )
        self.run_id = run.info.run_id
        logged = [
            Param(key, str(value)[:_MAX_PARAM_LENGTH])
            for key, value in sorted(params.items())
            if value is not None and key != "callbacks"
        ]
        for start in range(0, len(logged), _BATCH):
            self.client.log_batch(self.run_id, params=logged[start : start + _BATCH])
        return True

    def write_scalars(self, scalars: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name, value, now, step) for name, value in scalars.items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, context: TrainingHubContext) -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, "FINISHED")
        self.client, self.run_id = None, None
