"""The built-in trackers, for real: a tiny native run logs to MLflow (a local file store,
read back with mlflow's client) and W&B (offline mode, the run file read back), with the
one metric naming; asking for a tracker that is not installed is one ParameterError."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from training_hub._errors import ParameterError
from training_hub._params import validate_params
from training_hub.trackers import tracker_metrics
from training_hub.training_params import TrainingParams


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One native run with validation data, MLflow and W&B (offline) asked for."""
    from tests.engine._engine_helpers import build_assets, tiny_params
    from training_hub.engine import train

    folder = tmp_path_factory.mktemp("trackers")
    assets = build_assets(folder, samples=16)
    patch = pytest.MonkeyPatch()
    patch.setenv("WANDB_MODE", "offline")
    patch.setenv("WANDB_DIR", str(folder))
    patch.setenv("WANDB_SILENT", "true")
    try:
        train(tiny_params(
            assets, folder / "out", max_steps=3, validation_split=0.25,
            mlflow_tracking_uri=f"file:{folder / 'mlruns'}", mlflow_experiment_name="exp",
            mlflow_run_name="tiny", wandb_project="proj", wandb_run_name="tiny",
        ))
    finally:
        patch.undo()
    records = [json.loads(x) for x in (folder / "out" / "metrics.jsonl").read_text().splitlines()]
    return {"folder": folder, "records": records}


def _expected(records: list[dict[str, Any]], key: str) -> dict[int, float]:
    return {r["step"]: r[key] for r in records if key in r}


def test_mlflow_file_store_holds_the_logged_values(run: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"file:{run['folder'] / 'mlruns'}")
    experiment = client.get_experiment_by_name("exp")
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.info.run_name == "tiny" and logged.info.status == "FINISHED"
    assert logged.data.params["max_steps"] == "3"
    for name, key in (("train/loss", "loss"), ("train/learning_rate", "lr"),
                      ("eval/val_loss", "val_loss")):
        history = client.get_metric_history(logged.info.run_id, name)
        assert {m.step: m.value for m in history} == pytest.approx(
            _expected(run["records"], key), rel=1e-6)


def _wandb_records(path: Path) -> list[Any]:
    """The records of a .wandb run file (a LevelDB-style log of protobuf records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block, position, pending, records = path.read_bytes(), 32768, 7, b"", []
    while position < len(data):
        if block - position % block < 7:
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        pending += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_wandb_offline_run_holds_the_logged_values(run: dict[str, Any]) -> None:
    (path,) = run["folder"].glob("wandb/offline-run-*/run-*.wandb")
    records = _wandb_records(path)
    (meta,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (meta.project, meta.display_name) == ("proj", "tiny")
    history: dict[str, dict[int, float]] = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            row = {"/".join(i.nested_key) or i.key: json.loads(i.value_json)
                   for i in record.history.item}
            for name, value in row.items():
                history.setdefault(name, {})[int(row["_step"])] = value
    assert history["train/loss"] == pytest.approx(_expected(run["records"], "loss"), rel=1e-6)
    assert history["eval/val_loss"] == pytest.approx(
        _expected(run["records"], "val_loss"), rel=1e-6)


def test_one_metric_naming_for_engine_and_trl_records() -> None:
    native = {"step": 2, "loss": 1.5, "lr": 1e-3, "grad_norm": 0.5, "skipped": False}
    trl = {"loss": 1.5, "learning_rate": 1e-3, "grad_norm": 0.5, "mean_token_accuracy": 0.25}
    assert tracker_metrics(native, section="train") == {
        "train/loss": 1.5, "train/learning_rate": 1e-3, "train/grad_norm": 0.5}
    assert tracker_metrics(trl, section="train")["train/learning_rate"] == 1e-3
    assert tracker_metrics(trl, section="train")["train/mean_token_accuracy"] == 0.25
    assert tracker_metrics({"val_loss": 2.0}, section="eval") == {"eval/val_loss": 2.0}


def test_a_tracker_asked_for_but_missing_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",  # as if neither were installed
                        lambda name, *a: None if name in ("mlflow", "wandb") else real(name, *a))
    base = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": str(tmp_path)}
    with pytest.raises(ParameterError, match=r"training-hub-core\[mlflow\]"):
        validate_params(TrainingParams, {**base, "mlflow_tracking_uri": "file:/x"})
    with pytest.raises(ParameterError, match=r"training-hub-core\[wandb\]"):
        validate_params(TrainingParams, {**base, "wandb_project": "p"})
    with pytest.raises(ParameterError, match="tensorboard=False"):
        validate_params(TrainingParams, {**base, "tensorboard": False,
                                         "tensorboard_log_dir": str(tmp_path)})
