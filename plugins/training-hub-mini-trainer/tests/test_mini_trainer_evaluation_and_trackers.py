"""Evaluation, remote storage and trackers on the mini-trainer backend: refused with the
parameter and the backend named, or handed to the library (trackers). Runs without
mini-trainer installed (it needs CUDA): the checks happen before it is imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from training_hub_mini_trainer.backend import MiniTrainerOSFTBackend, MiniTrainerResult
from training_hub_mini_trainer.mapping import TRACKER_FIELDS, check_tracker_fields, tracker_fields

from training_hub import ParameterError
from training_hub._params import validate_params
from training_hub.trackers import default_trackers

osft_algorithm = pytest.importorskip(
    "training_hub_osft.algorithm", reason="training-hub-osft (defines osft) is not installed"
)


def _params(tmp_path: Path, **values: Any) -> Any:
    base = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": str(tmp_path / "o"),
            "unfreeze_rank_ratio": 0.25}
    return validate_params(osft_algorithm.OSFTParams, {**base, **values})


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
        MiniTrainerOSFTBackend().check_params(_params(tmp_path, **values))
    message = str(caught.value)
    assert message.startswith("Backend 'mini-trainer' cannot honour")
    assert named in message and "native backend" in message


def test_tracker_parameters_go_to_the_library_or_are_refused(tmp_path: Path) -> None:
    values = {"wandb_project": "p", "wandb_entity": "team", "tensorboard_log_dir": "tb"}
    params = _params(tmp_path, **values)
    assert tracker_fields(params) == values
    check_tracker_fields(params, frozenset(TRACKER_FIELDS))
    with pytest.raises(ParameterError, match=r"'mini-trainer' cannot honour tensorboard_log_dir,"
                       r" wandb_entity, wandb_project: .*Upgrade rhai-innovation-mini-trainer"):
        check_tracker_fields(params, frozenset({"mlflow_tracking_uri"}))


class _NoGPUHere(MiniTrainerOSFTBackend):
    """The library's run: impossible here (CUDA only); what it would leave is reported."""

    def _train(self, params: Any) -> MiniTrainerResult:
        return MiniTrainerResult(params.ckpt_output_dir, 0)


def test_builtin_trackers_stay_off_because_the_library_logs(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    params = _params(tmp_path, mlflow_tracking_uri=f"file:{store}", mlflow_run_name="r")
    seen: list[dict[str, Any]] = []

    class Watch:
        def on_train_begin(self, context: Any) -> None:
            seen.append(dict(context.params))

    _NoGPUHere().run(params, [Watch(), *default_trackers()])
    assert seen[0]["mlflow_tracking_uri"] is None and seen[0]["mlflow_run_name"] is None
    assert seen[0]["unfreeze_rank_ratio"] == 0.25
    assert not store.exists()


def test_tracker_parameters_land_in_the_installed_library_config(tmp_path: Path) -> None:
    pytest.importorskip("mini_trainer.training_types", reason="mini-trainer is not installed")
    from training_hub_mini_trainer.mapping import library_fields, to_mini_trainer_args

    known = library_fields()
    assert known is not None
    values = {"mlflow_tracking_uri": "http://mlflow:5000", "mlflow_experiment_name": "e",
              "mlflow_run_name": "r", "wandb_project": "p", "wandb_entity": "t",
              "wandb_run_name": "w"}
    _, train = to_mini_trainer_args(_params(tmp_path, **values), bf16_supported=False)
    assert {name: getattr(train, name) for name in values} == values
    with_dir = _params(tmp_path, tensorboard_log_dir=str(tmp_path / "tb"))
    if "tensorboard_log_dir" in known:
        _, train = to_mini_trainer_args(with_dir, bf16_supported=False)
        assert train.tensorboard_log_dir == str(tmp_path / "tb")
    else:  # this release cannot: refused before training, not dropped
        with pytest.raises(ParameterError, match="cannot honour tensorboard_log_dir"):
            MiniTrainerOSFTBackend().check_params(with_dir)
