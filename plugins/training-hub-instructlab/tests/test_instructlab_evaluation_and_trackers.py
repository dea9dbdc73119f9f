"""Evaluation, remote storage and trackers on the instructlab-training backend: refused with
the parameter and the backend named, or handed to the library (trackers). Runs without
instructlab-training installed (it needs CUDA): the checks happen before it is imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from training_hub_instructlab.backend import InstructLabResult, InstructLabTrainingSFTBackend
from training_hub_instructlab.mapping import TRACKER_FIELDS, check_tracker_fields, tracker_fields

from training_hub import ParameterError
from training_hub._params import validate_params
from training_hub.backend_limits import trackers_off
from training_hub.trackers import default_trackers
from training_hub.training_params import TrainingParams


def _params(tmp_path: Path, **values: Any) -> TrainingParams:
    base = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": str(tmp_path / "o")}
    params = validate_params(TrainingParams, {**base, **values})
    assert isinstance(params, TrainingParams)
    return params


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"validation_split": 0.1}, "validation_split=0.1"),
        ({"eval_data_path": "eval.jsonl"}, "eval_data_path='eval.jsonl'"),
        ({"validation_split": 0.1, "validation_frequency": 5}, "validation_frequency=5"),
        ({"validation_split": 0.1, "save_best_metric": "val_loss"},
         "save_best_metric='val_loss'"),
        ({"checkpoint_storage": "memory://bucket"}, "checkpoint_storage='memory://bucket'"),
    ],
)
def test_evaluation_and_storage_are_refused_naming_the_parameter(
    tmp_path: Path, values: dict[str, Any], named: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        InstructLabTrainingSFTBackend().check_params(_params(tmp_path, **values))
    message = str(caught.value)
    assert message.startswith("Backend 'instructlab-training' cannot honour")
    assert named in message and "native backend" in message


def test_peer_storage_name_pvc_is_local_only_and_accepted(tmp_path: Path) -> None:
    from training_hub import BackendUnavailableError

    # 'pvc' means no remote storage: nothing to refuse; the next check is the missing GPU
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        InstructLabTrainingSFTBackend().check_params(_params(tmp_path, checkpoint_storage="pvc"))


def test_tracker_parameters_go_to_the_library_or_are_refused(tmp_path: Path) -> None:
    values = {"mlflow_tracking_uri": f"file:{tmp_path}/mlruns", "mlflow_run_name": "r1",
              "wandb_project": "p", "tensorboard_log_dir": str(tmp_path / "tb")}
    params = _params(tmp_path, **values)
    assert tracker_fields(params) == values
    check_tracker_fields(params, frozenset(TRACKER_FIELDS))  # a release with every field
    with pytest.raises(ParameterError) as caught:  # a release without MLflow and W&B
        check_tracker_fields(params, frozenset({"tensorboard_log_dir"}))
    message = str(caught.value)
    assert "mlflow_run_name, mlflow_tracking_uri, wandb_project" in message
    assert "'instructlab-training'" in message and "Upgrade" in message


class _NoGPUHere(InstructLabTrainingSFTBackend):
    """The library's run: impossible here (CUDA only); what it would leave is reported."""

    def _train(self, params: TrainingParams) -> InstructLabResult:
        return InstructLabResult(params.ckpt_output_dir)


def test_builtin_trackers_stay_off_because_the_library_logs(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    params = _params(tmp_path, mlflow_tracking_uri=f"file:{store}", tensorboard=True)
    seen: list[dict[str, Any]] = []

    class Watch:
        def on_train_begin(self, context: Any) -> None:
            seen.append(dict(context.params))

    _NoGPUHere().run(params, [Watch(), *default_trackers()])
    assert seen and seen[0]["mlflow_tracking_uri"] is None and seen[0]["tensorboard"] is False
    assert seen[0]["model_path"] == "m"  # the rest as given
    assert not store.exists()  # no empty MLflow run beside the library's own
    assert not (tmp_path / "o" / "tensorboard").exists()
    assert trackers_off({"tensorboard": True, "wandb_project": "p"}) == {
        "tensorboard": False, **dict.fromkeys(TRACKER_FIELDS)}


def test_tracker_parameters_land_in_the_installed_library_config(tmp_path: Path) -> None:
    pytest.importorskip("instructlab.training.config", reason="instructlab-training missing")
    from training_hub_instructlab.mapping import to_instructlab_args

    values = {"mlflow_tracking_uri": "http://mlflow:5000", "mlflow_experiment_name": "e",
              "mlflow_run_name": "r", "wandb_project": "p", "wandb_entity": "t",
              "wandb_run_name": "w", "tensorboard_log_dir": str(tmp_path / "tb")}
    _, train = to_instructlab_args(_params(tmp_path, **values))
    assert {name: getattr(train, name) for name in TRACKER_FIELDS} == values
    _, default = to_instructlab_args(_params(tmp_path, tensorboard=False))
    assert all(getattr(default, name) is None for name in TRACKER_FIELDS)
