"""End-to-end runs of the native recipe on a tiny Llama: learning, equivalences, safety rails."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_hub._errors import ParameterError, TrainingError
from training_hub.engine import ModelAdapter, TrainingInterrupted, dry_run, train
from training_hub.engine.checkpoint import COMPLETE_MARKER, find_latest_checkpoint

from ._engine_helpers import (
    TinyAssets,
    build_assets,
    checkpoint_weights,
    max_weight_difference,
    tiny_params,
)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    return build_assets(tmp_path_factory.mktemp("tiny"), samples=48)


def _metrics(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_loss_falls_and_metrics_are_written(assets: TinyAssets, tmp_path: Path) -> None:
    params = tiny_params(
        assets,
        tmp_path / "run",
        max_steps=30,
        learning_rate=3e-3,
        warmup_steps=2,
        lr_scheduler="cosine",
    )
    result = train(params)
    rows = _metrics(result.metrics_path)
    assert [row["step"] for row in rows] == list(range(1, 31))
    first, last = rows[0]["loss"], sum(row["loss"] for row in rows[-5:]) / 5
    assert first > 4.0 and last < 0.6 * first, (first, last)
    assert set(rows[0]) >= {
        "step",
        "epoch",
        "loss",
        "lr",
        "grad_norm",
        "num_loss_tokens",
        "tokens",
        "tokens_per_second",
        "elapsed_s",
    }
    assert rows[0]["lr"] < rows[2]["lr"] and rows[-1]["lr"] < rows[5]["lr"]  # warmup, decay
    assert result.steps == 30 and result.epochs == 5  # 48 samples / 8 = 6 steps per epoch
    assert result.final_loss == pytest.approx(rows[-1]["loss"])
    assert result.tokens == rows[-1]["tokens"] > 0
    # checkpoints at each epoch end (6, 12, ...) and at the end
    assert [Path(p).name for p in result.checkpoints] == [f"step-{n}" for n in (6, 12, 18, 24, 30)]
    assert result.last_checkpoint == result.checkpoints[-1]


def test_one_micro_batch_equals_many(assets: TinyAssets, tmp_path: Path) -> None:
    common = {"max_steps": 2, "max_seq_len": 64, "adam_eps": 1e-6}
    whole = train(tiny_params(assets, tmp_path / "whole", max_tokens_per_gpu=1024, **common))
    split = train(tiny_params(assets, tmp_path / "split", max_tokens_per_gpu=64, **common))
    rows_whole, rows_split = _metrics(whole.metrics_path), _metrics(split.metrics_path)
    assert rows_whole[0]["loss"] == pytest.approx(rows_split[0]["loss"], abs=1e-6)
    difference = max_weight_difference(
        checkpoint_weights(whole.last_checkpoint), checkpoint_weights(split.last_checkpoint)
    )
    assert difference < 1e-5


def test_checkpoint_is_a_hugging_face_model_that_generates(
    assets: TinyAssets, tmp_path: Path
) -> None:
    result = train(tiny_params(assets, tmp_path / "run", max_steps=2))
    folder = Path(result.last_checkpoint)
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert (folder / "training_state" / "optimizer.pt").is_file()
    config = json.loads((folder / "config.json").read_text())
    assert config.get("use_cache", True) is True
    model = AutoModelForCausalLM.from_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "what is one plus two ?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert output.shape[1] > prompt["input_ids"].shape[1]


class _StopAtStep(ModelAdapter):
    """Sends this process SIGTERM after optimizer step ``at``, like a cluster preemption."""

    def __init__(self, at: int) -> None:
        self.at, self.steps = at, 0

    def after_optimizer_step(self, model: Any) -> None:
        self.steps += 1
        if self.steps == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


def test_signal_saves_and_resume_matches_an_uninterrupted_run(
    assets: TinyAssets, tmp_path: Path
) -> None:
    # 3 steps per epoch, so the stop at step 5 and the resume cross an epoch boundary.
    settings = {
        "max_steps": 7,
        "lr_scheduler": "cosine",
        "warmup_steps": 2,
        "effective_batch_size": 16,
        "checkpoint_at_epoch": False,
    }
    reference = train(tiny_params(assets, tmp_path / "straight", **settings))

    output = tmp_path / "interrupted"
    with pytest.raises(TrainingInterrupted) as stopped:
        train(tiny_params(assets, output, **settings), _StopAtStep(4))
    assert stopped.value.exit_code == 75
    # The flag is read when step 5 synchronises: the stop comes after step 5.
    assert Path(stopped.value.checkpoint).name == "step-5"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored

    resumed = train(tiny_params(assets, output, resume="latest", **settings))
    assert resumed.steps == 7
    before = checkpoint_weights(reference.last_checkpoint)
    after = checkpoint_weights(resumed.last_checkpoint)
    assert all(torch.equal(before[k], after[k]) for k in before)  # bit for bit
    rows = _metrics(resumed.metrics_path)
    assert [row["step"] for row in rows] == list(range(1, 8))  # no duplicates
    assert [r["loss"] for r in rows] == [r["loss"] for r in _metrics(reference.metrics_path)]


def test_latest_ignores_torn_checkpoints_and_keep_last_n_prunes(
    assets: TinyAssets, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    result = train(tiny_params(assets, output, max_steps=4, save_every=1, keep_last_n=2))
    root = output / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["step-3", "step-4"]
    assert result.checkpoints == [str(root / "step-3"), str(root / "step-4")]

    torn = root / "step-9"  # a crash mid-copy: no completion marker
    torn.mkdir()
    (torn / "config.json").write_text("{}")
    (root / ".tmp-step-10-123").mkdir()
    assert find_latest_checkpoint(output) == root / "step-4"
    (root / "step-4" / COMPLETE_MARKER).unlink()
    assert find_latest_checkpoint(output) == root / "step-3"


def test_existing_run_is_protected_unless_overwrite(assets: TinyAssets, tmp_path: Path) -> None:
    output = tmp_path / "run"
    train(tiny_params(assets, output, max_steps=1))
    before = {p: p.stat().st_mtime_ns for p in output.rglob("*")}
    with pytest.raises(ParameterError, match="overwrite=True"):
        train(tiny_params(assets, output, max_steps=1))
    assert {p: p.stat().st_mtime_ns for p in output.rglob("*")} == before
    result = train(tiny_params(assets, output, max_steps=2, overwrite=True))
    assert [row["step"] for row in _metrics(result.metrics_path)] == [1, 2]
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == ["step-2"]


class _NaNFromCall(ModelAdapter):
    """Makes the decoder's output NaN from its ``at``-th forward call on (a diverging run)."""

    def __init__(self, at: int, until: int | None = None) -> None:
        self.at, self.until, self.calls = at, until, 0

    def prepare(self, model: Any) -> Any:
        def poison(module: Any, args: Any, output: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.calls >= self.at and (self.until is None or self.calls <= self.until):
                return output * float("nan")
            return output

        model.get_decoder().norm.register_forward_hook(poison)
        return model


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(
    assets: TinyAssets, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    params = tiny_params(assets, output, max_steps=5, save_every=1)
    with pytest.raises(TrainingError, match="Step 3"):
        train(params, _NaNFromCall(at=3))
    assert find_latest_checkpoint(output) == output / "checkpoints" / "step-2"
    weights = checkpoint_weights(output / "checkpoints" / "step-2")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_nonfinite_step_is_skipped_when_asked(assets: TinyAssets, tmp_path: Path) -> None:
    output = tmp_path / "run"
    params = tiny_params(assets, output, max_steps=4, save_every=1, on_nonfinite="skip")
    result = train(params, _NaNFromCall(at=3, until=3))
    assert result.steps == 4
    rows = _metrics(result.metrics_path)
    assert [row["skipped"] for row in rows] == [False, False, True, False]
    step2 = checkpoint_weights(output / "checkpoints" / "step-2")
    step3 = checkpoint_weights(output / "checkpoints" / "step-3")
    assert max_weight_difference(step2, step3) == 0.0


def test_dry_run_reports_data_and_plan(assets: TinyAssets, tmp_path: Path) -> None:
    report = dry_run(tiny_params(assets, tmp_path / "run", max_steps=None, num_epochs=2))
    assert report["dataset"]["num_samples"] == 48
    assert report["steps_per_epoch"] == 6 and report["total_steps"] == 12
    assert report["dtype"] == "fp32" and report["device"] == "cpu"
    assert not (tmp_path / "run").exists()


def test_tied_embeddings_train_and_resume_with_checkpointing(tmp_path: Path) -> None:
    tied = build_assets(tmp_path / "tied", samples=16, tie_word_embeddings=True)
    settings = {"max_steps": 3, "save_every": 1, "gradient_checkpointing": True, "quiet": False}
    straight = train(tiny_params(tied, tmp_path / "straight", **settings))
    output = tmp_path / "resumed"
    train(tiny_params(tied, output, **{**settings, "max_steps": 2}))
    resumed = train(
        tiny_params(tied, output, resume=str(output / "checkpoints" / "step-2"), **settings)
    )
    weights = checkpoint_weights(resumed.last_checkpoint)
    assert "lm_head.weight" not in weights  # saved once, as the embedding
    reference = checkpoint_weights(straight.last_checkpoint)
    assert all(torch.equal(reference[k], weights[k]) for k in reference)
    model = AutoModelForCausalLM.from_pretrained(resumed.last_checkpoint)
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def _tensorboard_losses(folder: Path) -> dict[int, float]:
    """The ``train/loss`` scalars TensorBoard shows for a run folder, by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    steps = [event.step for event in events.Scalars("train/loss")]
    assert len(steps) == len(set(steps)), f"a step is shown twice: {steps}"
    return {event.step: event.value for event in events.Scalars("train/loss")}


def test_tensorboard_shows_the_metrics_once_per_step_after_a_resume(
    assets: TinyAssets, tmp_path: Path
) -> None:
    pytest.importorskip("tensorboard")
    settings = {"max_steps": 5, "save_every": 2, "checkpoint_at_epoch": False,
                "tensorboard": True}
    output = tmp_path / "run"
    first = train(tiny_params(assets, output, **settings))
    assert sorted(_tensorboard_losses(output / "tensorboard")) == [1, 2, 3, 4, 5]
    # As if the run died after logging step 5 but before its checkpoint was complete.
    (Path(first.last_checkpoint) / COMPLETE_MARKER).unlink()
    resumed = train(tiny_params(assets, output, resume="latest", **settings))
    assert resumed.steps == 5
    shown = _tensorboard_losses(output / "tensorboard")
    logged = {row["step"]: row["loss"] for row in _metrics(resumed.metrics_path)}
    assert sorted(shown) == sorted(logged) == [1, 2, 3, 4, 5]
    assert all(shown[step] == pytest.approx(logged[step], rel=1e-6) for step in logged)


def test_torch_compile_trains_the_same_losses_as_eager(
    assets: TinyAssets, tmp_path: Path
) -> None:
    # Inductor compiles C++ kernels on CPU: about 25 s cold on 2 cores, seconds when cached.
    import torch._dynamo

    settings = {"max_steps": 4}
    eager = train(tiny_params(assets, tmp_path / "eager", **settings))
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = train(tiny_params(assets, tmp_path / "compiled", torch_compile=True, **settings))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # it did compile
    eager_losses = [r["loss"] for r in _metrics(eager.metrics_path)]
    compiled_losses = [r["loss"] for r in _metrics(compiled.metrics_path)]
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-5)
    assert max_weight_difference(checkpoint_weights(eager.last_checkpoint),
                                 checkpoint_weights(compiled.last_checkpoint)) < 1e-4
