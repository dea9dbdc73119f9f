"""training-hub callbacks on the TRL backend: a tiny run fires the events with the native
engine's context fields, and a stop request ends it at that step."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")

from training_hub import create_algorithm
from training_hub.callbacks import TrainingHubCallback, TrainingHubContext
from training_hub.testing.tiny import (
    make_tiny_model,
    make_tiny_tokenizer,
    write_chat_jsonl,
)
from training_hub.trackers import tracker_metrics


class _Recorder(TrainingHubCallback):
    def __init__(self, stop_at: int | None = None) -> None:
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self.stop_at = stop_at

    def _keep(self, event: str, context: TrainingHubContext) -> None:
        self.events.append((event, context.step, {
            "loss": context.loss, "lr": context.learning_rate, "metrics": dict(context.metrics),
            "checkpoint": context.checkpoint, "output_dir": context.output_dir,
            "backend": context.backend, "main": context.is_main_process,
            "result": context.result,
        }))

    def on_train_begin(self, context: TrainingHubContext) -> None:
        self._keep("on_train_begin", context)

    def on_step_end(self, context: TrainingHubContext) -> None:
        self._keep("on_step_end", context)
        if context.step == self.stop_at:
            context.control.should_training_stop = True

    def on_log(self, context: TrainingHubContext) -> None:
        self._keep("on_log", context)

    def on_save(self, context: TrainingHubContext) -> None:
        self._keep("on_save", context)

    def on_train_end(self, context: TrainingHubContext) -> None:
        self._keep("on_train_end", context)

    def of(self, event: str) -> list[tuple[str, int, dict[str, Any]]]:
        return [e for e in self.events if e[0] == event]


def _records(output: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


def test_a_trl_run_fires_the_events_and_stops_on_request(tmp_path: Path) -> None:
    model_path = tmp_path / "model"
    make_tiny_model(model_path, make_tiny_tokenizer(model_path))
    output = tmp_path / "out"
    recorder = _Recorder(stop_at=2)
    run = {
        "model_path": str(model_path),
        "data_path": str(write_chat_jsonl(tmp_path / "c.jsonl", 6)),
        "data_cache_dir": str(tmp_path / "cache"), "data_workers": 1,
        "max_tokens_per_gpu": 512, "max_seq_len": 128, "effective_batch_size": 4,
        "learning_rate": 1e-3, "lr_scheduler": "constant", "checkpoint_at_epoch": False,
        "quiet": True, "tensorboard": False, "device": "cpu", "num_threads": 1,
    }
    create_algorithm("sft", "trl").train(
        **run, ckpt_output_dir=str(output), max_steps=4, callbacks=[recorder])
    # One naming: the native engine's metrics.jsonl keys and epochs (0-based, of the step)
    # on the same data, 6 samples of 4 a step: steps 1, 2 in epoch 0; 3 in epoch 1.
    native = tmp_path / "native"
    create_algorithm("sft", "native").train(**run, ckpt_output_dir=str(native), max_steps=3)
    native_records, trl_records = _records(native), _records(output)
    assert [(r["step"], r["epoch"]) for r in native_records] == [(1, 0), (2, 0), (3, 1)]
    assert [(r["step"], r["epoch"]) for r in trl_records] == [(1, 0), (2, 0)]
    # num_loss_tokens, skipped and eta_s are the native engine's own (TRL has no such numbers)
    shared = set(native_records[0]) - {"num_loss_tokens", "skipped", "eta_s"}
    assert all(shared <= set(record) for record in trl_records), (shared, trl_records[0])
    native_names = set(tracker_metrics(native_records[0], section="train"))
    assert native_names - {"train/num_loss_tokens"} <= set(
        tracker_metrics(trl_records[0], section="train"))
    names = [e[0] for e in recorder.events]
    assert names[0] == "on_train_begin" and names[-1] == "on_train_end"
    assert [e[1] for e in recorder.of("on_step_end")] == [1, 2]  # stopped at step 2
    logs = recorder.of("on_log")
    assert [e[1] for e in logs] == [1, 2]
    for _, step, seen in logs:
        assert seen["metrics"]["step"] == step and "lr" in seen["metrics"]
        assert math.isfinite(seen["metrics"]["loss"]) and seen["loss"] == seen["metrics"]["loss"]
        assert seen["lr"] == pytest.approx(1e-3)
    saves = recorder.of("on_save")
    assert [e[1] for e in saves] == [2]  # the stop saves a checkpoint, as on native
    assert Path(saves[0][2]["checkpoint"]).is_dir()
    assert all(e[2]["output_dir"] == str(output) and e[2]["backend"] == "trl" and e[2]["main"]
               for e in recorder.events)
    assert recorder.of("on_train_end")[0][2]["result"] is not None
