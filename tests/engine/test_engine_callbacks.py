"""Callbacks on real tiny runs: the events and their context, the control flags, two
processes, callbacks that cannot reach torchrun workers, a raising callback,
EarlyStopping, and the run lock of ``ckpt_output_dir``."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from training_hub import ParameterError, create_algorithm, sft
from training_hub.callbacks import EarlyStopping, TrainingHubCallback, TrainingHubContext
from training_hub.engine import train
from training_hub.engine.run_lock import LOCK_FILENAME, OutputDirInUseError
from training_hub.testing.locks import held_run_lock
from training_hub.testing.tiny import write_chat_jsonl
from training_hub.trackers import default_trackers

from ._callback_helpers import FileRecorder, Raising, Recorder, RequestAtStep, finite
from ._engine_helpers import TinyAssets, build_assets, free_port, subprocess_env, tiny_params


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    # 16 samples and 8 per step: two steps per epoch
    return build_assets(tmp_path_factory.mktemp("tiny"), samples=16)


@pytest.fixture(scope="module")
def eval_path(assets: TinyAssets) -> Path:
    return write_chat_jsonl(assets.model_path.parent / "eval.jsonl", 4, seed=7)


def _kwargs(assets: TinyAssets, output: Path, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of ``training_hub.sft`` for a short quiet CPU run."""
    values = {
        "model_path": str(assets.model_path), "data_path": str(assets.data_path),
        "ckpt_output_dir": str(output), "data_cache_dir": str(assets.cache_dir),
        "effective_batch_size": 8, "max_tokens_per_gpu": 512, "max_seq_len": 128,
        "learning_rate": 1e-3, "lr_scheduler": "constant", "quiet": True,
        "tensorboard": False, "device": "cpu", "num_threads": 1,
    }
    values.update(overrides)
    return values


def _train(params: Any, *callbacks: Any) -> Any:
    """The engine's ``train`` with ``callbacks`` and the built-in trackers (metrics.jsonl)."""
    return train(params, callbacks=[*callbacks, *default_trackers()])


def _metrics(output: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


def _checkpoints(output: Path) -> list[str]:
    return sorted(p.name for p in (output / "checkpoints").glob("step-*"))


def test_every_event_fires_in_order_with_its_context(
    assets: TinyAssets, eval_path: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    recorder = Recorder()
    result = sft(**_kwargs(assets, output, num_epochs=2, eval_data_path=str(eval_path)),
                 callbacks=[recorder])
    assert result.steps == 4 and not result.stopped_early

    step = ["on_step_begin", "on_step_end", "on_log"]
    epoch_end = ["on_epoch_end", "on_evaluate", "on_save"]  # evaluated and saved at epoch end
    one_epoch = ["on_epoch_begin", *step, *step, *epoch_end]
    assert recorder.names() == ["on_train_begin", *one_epoch, *one_epoch, "on_train_end"]

    for event in recorder.events:
        assert event["is_main_process"] and event["rank"] == 0 and event["world_size"] == 1
        assert event["output_dir"] == str(output)
        assert (event["algorithm"], event["backend"]) == ("sft", "native")
    begin = recorder.of("on_train_begin")[0]
    assert begin["step"] == 0 and begin["loss"] is None
    ends = recorder.of("on_step_end")
    assert [e["step"] for e in ends] == [1, 2, 3, 4]
    first_epoch = ends[0]["epoch"]
    assert [e["epoch"] for e in ends] == [first_epoch] * 2 + [first_epoch + 1] * 2
    assert all(finite(e["loss"]) and e["loss"] == e["metrics"]["loss"] for e in ends)
    assert all(e["learning_rate"] == pytest.approx(1e-3) for e in ends)
    # on_log carries the record written to metrics.jsonl
    logged = [r for r in _metrics(output) if "loss" in r and "val_loss" not in r]
    assert [e["metrics"] for e in recorder.of("on_log")] == logged
    # on_evaluate: the evaluation of each epoch end
    evaluations = recorder.of("on_evaluate")
    assert [e["step"] for e in evaluations] == [2, 4]
    assert all(finite(e["metrics"]["val_loss"]) for e in evaluations)
    assert [e["metrics"]["val_loss"] for e in evaluations] == [
        r["val_loss"] for r in _metrics(output) if "val_loss" in r
    ]
    saves = recorder.of("on_save")
    assert [Path(e["checkpoint"]).name for e in saves] == ["step-2", "step-4"]
    assert all(Path(e["checkpoint"], "config.json").is_file() for e in saves)
    end = recorder.of("on_train_end")[0]
    assert end["has_result"] and end["step"] == 4
    assert not (output / LOCK_FILENAME).exists()  # the run lock went with the run


def test_stop_save_and_evaluate_requests(
    assets: TinyAssets, eval_path: Path, tmp_path: Path
) -> None:
    stopped = tmp_path / "stopped"
    logs = Recorder()
    result = _train(tiny_params(assets, stopped, max_steps=6, logging_steps=4),
                    RequestAtStep("should_training_stop", 2), logs)
    assert result.stopped_early and result.steps == 2
    assert _checkpoints(stopped) == ["step-2"] and result.last_checkpoint
    assert Path(result.last_checkpoint).name == "step-2"
    # the step the run ended on is logged although it is no logging step (logging_steps=4)
    assert [r["step"] for r in _metrics(stopped)] == [2]
    assert _metrics(stopped)[0]["loss"] == pytest.approx(result.final_loss)
    assert [e["step"] for e in logs.of("on_log")] == [2]

    steered = tmp_path / "steered"
    recorder = Recorder()
    result = _train(
        tiny_params(assets, steered, max_steps=2, eval_data_path=str(eval_path),
                    checkpoint_at_epoch=False, save_final_checkpoint=False),
        RequestAtStep("should_save", 1), RequestAtStep("should_evaluate", 1), recorder,
    )
    assert not result.stopped_early and result.steps == 2
    # step 1 was saved and evaluated on request; step 2 evaluated as the last (and epoch end)
    assert _checkpoints(steered) == ["step-1"]
    assert [e["step"] for e in recorder.of("on_evaluate")] == [1, 2]
    assert [r["step"] for r in _metrics(steered) if "val_loss" in r] == [1, 2]


def test_th_train_takes_callbacks_by_import_path_and_refuses_a_bad_one(
    assets: TinyAssets, tmp_path: Path
) -> None:
    output = tmp_path / "cli"
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({  # JSON is YAML
        **_kwargs(assets, output, max_steps=6, checkpoint_at_epoch=False), "algorithm": "sft"}))
    th = [sys.executable, "-m", "training_hub.cli", "train", "--config", str(config)]
    helpers = "tests.engine._callback_helpers"
    env = {**os.environ, **subprocess_env()}
    run = subprocess.run([*th, "--callback", f"{helpers}:SaveAtOne",
                          "--callback", f"{helpers}:StopAtTwo"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout[run.stdout.index("{"):run.stdout.rindex("}") + 1])
    assert result["stopped_early"] and result["steps"] == 2  # both flags were honoured
    assert _checkpoints(output) == ["step-1", "step-2"]
    bad = subprocess.run([*th, "--callback", f"{helpers}:NoSuchCallback", "--overwrite"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert f"Callback '{helpers}:NoSuchCallback' cannot be imported" in bad.stderr


def test_two_processes_stop_together_and_rank_zero_only_callbacks(
    assets: TinyAssets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in subprocess_env().items():
        monkeypatch.setenv(name, value)
    events = tmp_path / "events"
    events.mkdir()
    output = tmp_path / "out"
    result = create_algorithm("sft").train(
        **_kwargs(assets, output, max_steps=6, nproc_per_node=2, master_port=free_port()),
        callbacks=[
            RequestAtStep("should_training_stop", 3, rank=1),  # decided on rank 1 alone
            FileRecorder(events, "all", all_ranks=True),
            FileRecorder(events, "main", all_ranks=False),
        ],
    )
    assert result.stopped_early and result.steps == 3
    for rank in (0, 1):
        seen = FileRecorder.read(events, "all", rank)
        assert [e["step"] for e in seen if e["event"] == "on_step_end"] == [1, 2, 3]
        assert seen[-1]["event"] == "on_train_end"
        assert all(e["rank"] == rank and e["world_size"] == 2 for e in seen)
        assert all(e["is_main_process"] == (rank == 0) for e in seen)
    assert FileRecorder.read(events, "main", 1) == []  # not run_on_all_ranks: rank 0 only
    main = FileRecorder.read(events, "main", 0)
    assert [e["step"] for e in main if e["event"] == "on_step_end"] == [1, 2, 3]
    assert _checkpoints(output) == ["step-2", "step-3"]  # the epoch end, and the stop


class _NotImportable(TrainingHubCallback):
    def on_step_end(self, context: TrainingHubContext) -> None:
        pass


def test_callbacks_workers_cannot_import_are_refused_before_launch(
    assets: TinyAssets, tmp_path: Path
) -> None:
    class Local(TrainingHubCallback):
        def on_step_end(self, context: TrainingHubContext) -> None:
            pass

    in_main = type("InMain", (TrainingHubCallback,), {"__module__": "__main__"})
    output = tmp_path / "out"
    for callback in (Local(), in_main()):
        with pytest.raises(ParameterError, match="Move the class into a module") as refused:
            sft(**_kwargs(assets, output, max_steps=1, nproc_per_node=2,
                          master_port=free_port()), callbacks=[callback])
        assert type(callback).__qualname__ in str(refused.value)
    assert not output.exists()  # refused before anything started
    # one process needs no import path: the same local callback is fine there
    result = sft(**_kwargs(assets, output, max_steps=1), callbacks=[Local()])
    assert result.steps == 1


def test_a_raising_callback_is_reported_once_and_the_run_completes(
    assets: TinyAssets, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raising = Raising()
    with caplog.at_level(logging.WARNING, logger="training_hub"):
        result = train(tiny_params(assets, tmp_path / "out", max_steps=3),
                       callbacks=[raising])
    assert result.steps == 3 and not result.stopped_early
    assert raising.calls == 3  # still called: one failure does not unhook it
    reports = [r.getMessage() for r in caplog.records if "Raising" in r.getMessage()]
    assert len(reports) == 1
    report = reports[0]
    assert "callback tests.engine._callback_helpers.Raising raised in on_step_end" in report
    assert "Traceback (most recent call last)" in report
    assert "RuntimeError: callback bug number 1" in report


def test_early_stopping_stops_when_val_loss_stops_improving(
    assets: TinyAssets, eval_path: Path, tmp_path: Path
) -> None:
    # Improvement means val_loss falling by more than min_delta: a small model learning a
    # few steps at 1e-3 falls by far less, so after the first evaluation none improves.
    stopper = EarlyStopping(metric="val_loss", patience=2, min_delta=5.0)
    output = tmp_path / "out"
    result = _train(
        tiny_params(assets, output, max_steps=8, eval_data_path=str(eval_path),
                    validation_frequency=1),
        stopper,
    )
    evaluations = [r for r in _metrics(output) if "val_loss" in r]
    assert [r["step"] for r in evaluations] == [1, 2, 3]
    assert all(abs(r["val_loss"] - evaluations[0]["val_loss"]) < 5.0 for r in evaluations)
    assert result.stopped_early and result.steps == 3 and stopper.stopped_at_step == 3
    assert stopper.best == evaluations[0]["val_loss"]

    # and an improving metric (the loss on the training samples) never stops the run
    patient = EarlyStopping(metric="val_loss", patience=1)
    result = _train(
        tiny_params(assets, tmp_path / "improving", max_steps=3,
                    eval_data_path=str(assets.data_path), validation_frequency=1),
        patient,
    )
    values = [r["val_loss"] for r in _metrics(tmp_path / "improving") if "val_loss" in r]
    assert values == sorted(values, reverse=True) and len(set(values)) == 3
    assert not result.stopped_early and patient.best == values[-1]


def test_a_live_run_holds_the_output_dir_and_a_dead_one_does_not(
    assets: TinyAssets, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    with held_run_lock(output) as holder:  # killed at the end: its lock file stays behind
        with pytest.raises(OutputDirInUseError, match=f"pid {holder.pid}") as refused:
            train(tiny_params(assets, output, max_steps=1))
        message = str(refused.value)
        assert str(output) in message and "choose another ckpt_output_dir" in message
        assert not (output / "checkpoints").exists()
    assert (output / LOCK_FILENAME).is_file()
    result = train(tiny_params(assets, output, max_steps=1))
    assert result.steps == 1 and math.isfinite(result.final_loss or math.nan)
    assert not (output / LOCK_FILENAME).exists()
