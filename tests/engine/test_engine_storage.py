"""Remote checkpoint storage: real fsspec file systems (local, memory) and one of the tests'
own that fails or stalls mid-upload; real tiny training runs resume from the storage."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import pytest
import torch
from fsspec.implementations.local import LocalFileSystem

from training_hub._errors import ParameterError
from training_hub._params import validate_params
from training_hub.engine import ModelAdapter, TrainingInterrupted, storage, train
from training_hub.engine.checkpoint import COMPLETE_MARKER, list_checkpoints
from training_hub.engine.storage import CheckpointMirror, RemoteCheckpoints, open_mirror
from training_hub.training_params import TrainingParams

from ._engine_helpers import TinyAssets, build_assets, checkpoint_weights, tiny_params


class FailingFS(LocalFileSystem):
    """A local file system that fails or stalls uploads as the test tells it to.

    ``failures[substring] = n``: the next ``n`` put_file calls whose target contains
    ``substring`` raise (n < 0: every call). ``stall_s``: every put_file sleeps first.
    ``gate``: every put_file waits until it is set.
    """

    protocol = ("thtest",)
    failures: ClassVar[dict[str, int]] = {}
    stall_s: ClassVar[float] = 0.0
    gate: ClassVar[threading.Event | None] = None
    puts: ClassVar[list[str]] = []

    def put_file(self, lpath: Any, rpath: Any, **kwargs: Any) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        if self.stall_s:
            time.sleep(self.stall_s)
        for pattern, left in self.failures.items():
            if pattern in str(rpath) and left != 0:
                self.failures[pattern] = left - 1
                raise ConnectionError(f"injected failure uploading {rpath}")
        type(self).puts.append(str(rpath))
        super().put_file(lpath, rpath, **kwargs)


fsspec.register_implementation("thtest", FailingFS, clobber=True)


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(storage, "BACKOFF_S", 0.01)
    FailingFS.failures, FailingFS.stall_s, FailingFS.gate, FailingFS.puts = {}, 0.0, None, []
    yield
    FailingFS.failures, FailingFS.stall_s, FailingFS.gate, FailingFS.puts = {}, 0.0, None, []


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    return build_assets(tmp_path_factory.mktemp("tiny"), samples=48)


def _fake_checkpoint(output_dir: Path, step: int) -> Path:
    folder = output_dir / "checkpoints" / f"step-{step}"
    (folder / "training_state").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(os.urandom(64))
    (folder / "training_state" / "optimizer.pt").write_bytes(os.urandom(32))
    (folder / COMPLETE_MARKER).write_text(json.dumps({"step": step, "epoch_end": False}))
    return folder


def _metrics(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if "loss" in line]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the mirror on its own ---------------------------------------------------------------


def test_marker_is_uploaded_last_and_failed_files_are_retried(tmp_path: Path) -> None:
    local = _fake_checkpoint(tmp_path / "run", 7)
    FailingFS.failures = {"optimizer.pt": 2, COMPLETE_MARKER: 1}  # each fails, then succeeds
    remote = RemoteCheckpoints(f"thtest://{tmp_path}/bucket", backoff_s=0.01)
    remote.upload(local, 7)
    assert FailingFS.puts[-1].endswith(f"step-7/{COMPLETE_MARKER}")  # written last
    assert len(FailingFS.puts) == 3 and FailingFS.failures == {"optimizer.pt": 0,
                                                               COMPLETE_MARKER: 0}
    assert remote.complete_steps() == [7]
    assert _files(tmp_path / "bucket" / "checkpoints" / "step-7") == _files(local)


def test_upload_failing_for_good_leaves_no_marker_and_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    output = tmp_path / "run"
    first, second = _fake_checkpoint(output, 1), _fake_checkpoint(output, 2)
    FailingFS.failures = {"step-2/training_state": -1}  # mid-upload: the model is already up
    mirror = CheckpointMirror(f"thtest://{tmp_path}/bucket", output, attempts=3).start()
    mirror.submit(first, 1)
    mirror.submit(second, 2)
    with caplog.at_level(logging.WARNING, logger="training_hub.engine"):
        report = mirror.close(30)
    assert report.uploaded == [1] and list(report.failed) == [2]
    assert "injected failure" in report.failed[2]
    half = tmp_path / "bucket" / "checkpoints" / "step-2"
    assert (half / "model.safetensors").is_file() and not (half / COMPLETE_MARKER).exists()
    assert RemoteCheckpoints(f"file://{tmp_path}/bucket").complete_steps() == [1]
    assert "step-2" in caplog.text and "upload failed" in caplog.text


def test_the_wait_at_the_end_is_bounded_and_reports_what_is_not_uploaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    output = tmp_path / "run"
    checkpoints = [_fake_checkpoint(output, step) for step in (1, 2)]
    FailingFS.stall_s = 0.4  # each file takes 0.4 s: two checkpoints need 2.4 s
    mirror = CheckpointMirror(f"thtest://{tmp_path}/bucket", output).start()
    for step, folder in enumerate(checkpoints, start=1):
        mirror.submit(folder, step)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="training_hub.engine"):
        report = mirror.close(0.5)
    assert time.monotonic() - started < 1.5
    assert report.not_uploaded and not report.complete
    assert "not uploaded after waiting 0.5 s" in caplog.text
    assert all(f"step-{s}" in caplog.text for s in report.not_uploaded)
    time.sleep(1.0)  # the abandoned upload stops at its next file and never writes a marker
    assert RemoteCheckpoints(f"file://{tmp_path}/bucket").complete_steps() == [
        s for s in (1, 2) if s not in report.not_uploaded
    ]


def test_remote_keep_last_n_prunes_and_skips_uploads_it_would_prune(tmp_path: Path) -> None:
    uri = f"thtest://{tmp_path}/bucket"
    output = tmp_path / "run"
    FailingFS.gate = threading.Event()  # uploads hang until all five are queued
    mirror = CheckpointMirror(uri, output, keep_last_n=2).start()
    for step in range(1, 6):
        mirror.submit(_fake_checkpoint(output, step), step)
    FailingFS.gate.set()
    report = mirror.close(30)
    remote = RemoteCheckpoints(uri)
    assert remote.complete_steps() == [4, 5]
    # The one upload the thread started before the gate opened depends on timing; every
    # other checkpoint with two newer ones queued was skipped, not sent and then pruned.
    assert report.uploaded[-2:] == [4, 5] and len(report.uploaded) <= 3 and report.skipped
    assert sorted(report.uploaded + report.skipped) == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in (tmp_path / "bucket" / "checkpoints").iterdir()) == [
        "step-4", "step-5"]  # step-1 pruned wholly, 2 and 3 never sent
    assert not (output / storage.STAGING_DIRNAME).exists()


def test_best_checkpoint_replaces_the_remote_best_marker_last_never_half(tmp_path: Path) -> None:
    uri = f"thtest://{tmp_path}/bucket"
    output = tmp_path / "run"
    first, second = _fake_checkpoint(output, 1), _fake_checkpoint(output, 2)
    (first / "only-in-the-first.bin").write_bytes(b"x")
    remote = RemoteCheckpoints(uri)
    FailingFS.failures = {"best/training_state": -1}  # the first best breaks mid-way
    mirror = CheckpointMirror(uri, output, attempts=2).start()
    mirror.submit_best(first, 1)
    report = mirror.close(30)
    assert list(report.best_failed) == [1] and not report.complete
    remote_best = tmp_path / "bucket" / "checkpoints" / "best"
    assert (remote_best / "model.safetensors").is_file()  # half uploaded...
    assert not remote.has_complete_best()  # ...so not a best checkpoint
    assert storage.fetch_if_newer(uri, tmp_path / "fresh", None) is None
    assert not (tmp_path / "fresh" / "checkpoints" / "best").exists()

    FailingFS.failures, FailingFS.puts = {}, []
    mirror = CheckpointMirror(uri, output, keep_last_n=1).start()
    mirror.submit_best(first, 1)
    mirror.submit_best(second, 2)  # supersedes the queued one (or replaces it remotely)
    report = mirror.close(30)
    assert report.complete and report.best_uploaded[-1] == 2
    assert remote.has_complete_best() and remote.complete_steps() == []  # not a step
    assert _files(remote_best) == _files(second)  # nothing of the first best is left
    assert FailingFS.puts[-1] == f"{tmp_path}/bucket/checkpoints/best/{COMPLETE_MARKER}"


# --- parameters --------------------------------------------------------------------------


def test_storage_uri_is_validated_with_the_package_to_install(tmp_path: Path) -> None:
    base = {"model_path": "m", "data_path": "d", "ckpt_output_dir": str(tmp_path)}
    with pytest.raises(ParameterError, match="fsspec knows no protocol 'nosuch'"):
        validate_params(TrainingParams, {**base, "checkpoint_storage": "nosuch://bucket/x"})
    with pytest.raises(ParameterError, match="not a URI"):
        validate_params(TrainingParams, {**base, "checkpoint_storage": "bucket/x"})
    if importlib.util.find_spec("gcsfs") is None:
        with pytest.raises(ParameterError, match="gcsfs"):
            validate_params(TrainingParams, {**base, "checkpoint_storage": "gs://bucket/x"})
    ok = validate_params(TrainingParams, {**base, "checkpoint_storage": f"file://{tmp_path}/s"})
    assert ok.checkpoint_storage == f"file://{tmp_path}/s"  # type: ignore[attr-defined]


def test_fresh_run_refuses_a_storage_holding_an_earlier_run(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/bucket"
    RemoteCheckpoints(uri).upload(_fake_checkpoint(tmp_path / "old", 3), 3)
    params = TrainingParams(model_path="m", data_path="d", ckpt_output_dir=str(tmp_path / "new"),
                            checkpoint_storage=uri)
    with pytest.raises(ParameterError, match="holds checkpoints of an earlier run"):
        open_mirror(params)
    open_mirror(params.model_copy(update={"overwrite": True})).close()
    assert RemoteCheckpoints(uri).complete_steps() == []


# --- real runs ---------------------------------------------------------------------------


class _StopAtStep(ModelAdapter):
    """SIGTERM after optimizer step ``at``, as a preempted job gets."""

    def __init__(self, at: int) -> None:
        self.at, self.steps = at, 0

    def after_optimizer_step(self, model: Any) -> None:
        self.steps += 1
        if self.steps == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


def test_preempted_run_resumes_from_storage_on_a_fresh_machine_exactly(
    assets: TinyAssets, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {"max_steps": 6, "lr_scheduler": "cosine", "warmup_steps": 2,
                                "checkpoint_at_epoch": False}
    reference = train(tiny_params(assets, tmp_path / "straight", **settings))

    uri = f"memory://th-{uuid.uuid4().hex}"
    with pytest.raises(TrainingInterrupted) as stopped:
        train(tiny_params(assets, tmp_path / "machine-a", checkpoint_storage=uri, **settings),
              _StopAtStep(3))
    assert Path(stopped.value.checkpoint).name == "step-4"
    # The run ended after its upload: the signal's checkpoint is complete in the storage.
    assert RemoteCheckpoints(uri).complete_steps() == [4]

    fresh = tmp_path / "machine-b"  # nothing local: resume comes from the bucket
    resumed = train(tiny_params(assets, fresh, resume="latest", checkpoint_storage=uri,
                                **settings))
    assert resumed.steps == 6
    assert [c.step for c in list_checkpoints(fresh)] == [4, 6]
    rows = _metrics(resumed.metrics_path)
    assert [r["step"] for r in rows] == [5, 6]  # steps 1-4 were not trained again
    expected = {r["step"]: r["loss"] for r in _metrics(reference.metrics_path)}
    assert [r["loss"] for r in rows] == [expected[5], expected[6]]
    before, after = checkpoint_weights(reference.last_checkpoint), checkpoint_weights(
        resumed.last_checkpoint)
    assert all(torch.equal(before[k], after[k]) for k in before)  # bit for bit
    assert RemoteCheckpoints(uri).complete_steps() == [4, 6]


def test_half_uploaded_checkpoint_is_never_resumed_from_and_keep_last_n_prunes_remote(
    assets: TinyAssets, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {"max_steps": 4, "save_every": 1, "checkpoint_at_epoch": False}
    uri = f"thtest://{tmp_path}/bucket"
    FailingFS.failures = {"step-4/training_state": -1}  # the last upload breaks mid-way
    first = train(tiny_params(assets, tmp_path / "a", checkpoint_storage=uri, keep_last_n=2,
                              **settings))
    assert [c.step for c in list_checkpoints(tmp_path / "a")] == [3, 4]
    remote = RemoteCheckpoints(uri)
    assert remote.complete_steps() == [2, 3]  # step-1 pruned, step-4 has no marker
    assert (tmp_path / "bucket" / "checkpoints" / "step-4" / "model.safetensors").is_file()

    FailingFS.failures = {}
    resumed = train(tiny_params(assets, tmp_path / "b", resume="latest", checkpoint_storage=uri,
                                keep_last_n=2, **settings))
    rows = _metrics(resumed.metrics_path)
    assert [r["step"] for r in rows] == [4]  # from step-3, the newest complete one
    assert rows[0]["loss"] == _metrics(first.metrics_path)[-1]["loss"]
    assert remote.complete_steps() == [3, 4]  # step-4 uploaded whole this time


def test_best_checkpoint_is_mirrored_and_a_fresh_machine_gets_it_back(
    assets: TinyAssets, tmp_path: Path
) -> None:
    """save_best_metric with checkpoint_storage: the bucket holds checkpoints/best beside
    the step checkpoints (keep_last_n never prunes it); resuming on a machine without it
    downloads it, so the resumed run compares against the best of the first attempt."""
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(str(assets.model_path)))
    # trained on one token, validated on another: val_loss only gets worse, the best is step 1
    for name, token, count in (("train", 7, 16), ("eval", vocab - 1, 3)):
        line = json.dumps({"input_ids": [token] * 24, "labels": [token] * 24}) + "\n"
        (tmp_path / f"{name}.jsonl").write_text(line * count)
    uri = f"thtest://{tmp_path}/bucket"
    settings: dict[str, Any] = {
        "data_path": str(tmp_path / "train.jsonl"), "learning_rate": 3e-2,
        "save_every": 1, "keep_last_n": 1, "checkpoint_at_epoch": False,
        "eval_data_path": str(tmp_path / "eval.jsonl"), "validation_frequency": 1,
        "save_best_metric": "val_loss", "checkpoint_storage": uri,
    }
    train(tiny_params(assets, tmp_path / "a", max_steps=3, **settings))
    local_best = tmp_path / "a" / "checkpoints" / "best"
    remote_best = tmp_path / "bucket" / "checkpoints" / "best"
    assert _files(remote_best) == _files(local_best)
    best_puts = [p for p in FailingFS.puts if "/checkpoints/best/" in p]
    assert best_puts[-1].endswith(f"best/{COMPLETE_MARKER}")  # the marker last
    assert RemoteCheckpoints(uri).complete_steps() == [3]  # step-1 and 2 pruned, best kept
    first_best = json.loads((local_best / "best.json").read_text())
    assert first_best["step"] == 1  # its step-1 folder is gone, locally and remotely

    # the download alone: the newest step checkpoint and the best, atomically
    fresh = tmp_path / "b"
    assert storage.fetch_if_newer(uri, fresh, None) == fresh / "checkpoints" / "step-3"
    assert _files(fresh / "checkpoints" / "best") == _files(local_best)

    other = tmp_path / "c"  # a whole resumed run on a machine with nothing local
    resumed = train(tiny_params(assets, other, max_steps=4, resume="latest", **settings))
    assert resumed.steps == 4
    rows = [r for r in _metrics(resumed.metrics_path) if "val_loss" in r]
    assert [r["step"] for r in rows] == [4]  # steps 1-3 came from the bucket
    assert rows[0]["val_loss"] > first_best["value"]
    # the best of the first attempt (downloaded) stays the best: step 4 is no better
    assert _files(other / "checkpoints" / "best") == _files(local_best)
    assert RemoteCheckpoints(uri).complete_steps() == [4]
    assert json.loads((remote_best / "best.json").read_text()) == first_best
