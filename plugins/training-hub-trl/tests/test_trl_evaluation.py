"""Evaluation, the best checkpoint and remote storage on the trl backend: real TRL runs of a
tiny Llama on CPU, val_loss against an independent computation, the bucket read back."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from training_hub_trl.mapping import build_sft_config

from training_hub import ParameterError, create_algorithm
from training_hub.callbacks import TrainingHubCallback, TrainingHubContext
from training_hub.engine.storage import RemoteCheckpoints
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl
from training_hub.training_params import TrainingParams

Sample = tuple[list[int], list[int]]  # input_ids, labels (-100: no loss), unshifted


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("trl-eval-assets")
    model_path = folder / "model"
    tokenizer = make_tiny_tokenizer(model_path)
    make_tiny_model(model_path, tokenizer)
    return {"model": model_path, "chat": write_chat_jsonl(folder / "chat.jsonl", 16),
            "folder": folder, "vocab": len(tokenizer)}


def _values(assets: dict[str, Any], output: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "model_path": str(assets["model"]), "data_path": str(assets["chat"]),
        "ckpt_output_dir": str(output), "data_cache_dir": str(assets["folder"] / "cache"),
        "data_workers": 1, "max_tokens_per_gpu": 512, "max_seq_len": 128,
        "lr_scheduler": "constant", "checkpoint_at_epoch": False, "quiet": True,
        "tensorboard": False, "device": "cpu", "num_threads": 1, **overrides,
    }


def _write_tokenized(path: Path, samples: list[Sample]) -> Path:
    path.write_text("".join(json.dumps({"input_ids": i, "labels": lab}) + "\n"
                            for i, lab in samples))
    return path


def _random_samples(count: int, vocab: int, seed: int) -> list[Sample]:
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        ids = [rng.randrange(5, vocab) for _ in range(rng.randrange(6, 30))]
        prompt = rng.randrange(1, len(ids) // 2)  # the first tokens carry no loss
        samples.append((ids, [-100] * prompt + ids[prompt:]))
    return samples


def _independent_val_loss(checkpoint: Path, samples: list[Sample]) -> tuple[float, int]:
    """A plain forward of each sample; masked cross-entropy summed over all of them,
    divided by their number of loss tokens."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for ids, labels in samples:
            logits = model(torch.tensor([ids])).logits[0, :-1].double()
            targets = torch.tensor(labels)[1:]
            mask = targets != -100
            total += float(F.cross_entropy(logits[mask], targets[mask], reduction="sum"))
            count += int(mask.sum())
    return total / count, count


def _records(output: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class _SeesEvaluations(TrainingHubCallback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def on_evaluate(self, context: TrainingHubContext) -> None:
        self.seen.append((context.step, context.metrics["val_loss"]))


def test_trl_config_evaluates_as_asked() -> None:
    required = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": "out",
                "device": "cpu"}
    plain = build_sft_config(TrainingParams(**required), output_dir="o")
    assert plain.eval_strategy == "no"
    every = build_sft_config(TrainingParams(**required, eval_data_path="e.jsonl",
                                            validation_frequency=5,
                                            per_device_eval_batch_size=3), output_dir="o")
    assert (every.eval_strategy, every.eval_steps, every.per_device_eval_batch_size) == (
        "steps", 5, 3)
    epochs = build_sft_config(TrainingParams(**required, validation_split=0.1), output_dir="o")
    assert epochs.eval_strategy == "epoch"
    assert epochs.per_device_eval_batch_size == epochs.per_device_train_batch_size


def test_sft_on_trl_val_loss_best_checkpoint_and_storage(
    assets: dict[str, Any], tmp_path: Path
) -> None:
    """16 samples of 4 per step: epoch ends at steps 4 and 8; validation_frequency=3, so
    evaluations at 3, 4 (epoch end), 6 (frequency) and 7 (the last step), once each."""
    samples = _random_samples(5, assets["vocab"], seed=1)
    eval_path = _write_tokenized(tmp_path / "eval.jsonl", samples)
    uri = f"file://{tmp_path}/bucket"
    watcher = _SeesEvaluations()
    output = tmp_path / "out"
    result = create_algorithm("sft", "trl").train(**_values(
        assets, output, effective_batch_size=4, learning_rate=1e-3, max_steps=7,
        save_every=1, eval_data_path=str(eval_path), validation_frequency=3,
        save_best_metric="val_loss", checkpoint_storage=uri, callbacks=[watcher]))

    evaluations = [r for r in _records(output) if "val_loss" in r]
    assert [r["step"] for r in evaluations] == [3, 4, 6, 7]
    root = output / "checkpoints"
    for record in evaluations:
        expected, loss_tokens = _independent_val_loss(
            root / f"checkpoint-{record['step']}", samples)
        assert abs(record["val_loss"] - expected) / expected < 1e-4
        assert record["val_num_tokens"] == loss_tokens
        assert record["val_num_samples"] == len(samples)
    assert watcher.seen == [(r["step"], r["val_loss"]) for r in evaluations]
    assert result.last_evaluation["val_loss"] == evaluations[-1]["val_loss"]

    best = min(evaluations, key=lambda r: r["val_loss"])
    marker = json.loads((root / "best" / "best.json").read_text())
    assert (marker["metric"], marker["step"]) == ("val_loss", best["step"])
    assert marker["value"] == pytest.approx(best["val_loss"], rel=1e-12)
    assert result.best_checkpoint == str(root / "best")
    source = _files(root / f"checkpoint-{best['step']}")
    assert {k: v for k, v in _files(root / "best").items() if k != "best.json"} == source

    # the bucket: every checkpoint complete (marker last) and the best one
    remote = RemoteCheckpoints(uri, prefix="checkpoint")
    assert remote.complete_steps() == list(range(1, 8)) and remote.has_complete_best()
    assert _files(tmp_path / "bucket" / "checkpoints" / "best") == _files(root / "best")
    assert _files(tmp_path / "bucket" / "checkpoints" / "checkpoint-7") == _files(
        root / "checkpoint-7")


def test_trl_best_only_save_keep_last_n_and_resume_from_the_bucket(
    assets: dict[str, Any], tmp_path: Path
) -> None:
    """Trained on one token, validated on another, val_loss only gets worse: the best is
    step 1, which no rule saves, so it is written as checkpoints/best alone. A fresh
    machine resumes from the bucket's checkpoint-2 and keeps that best."""
    for name, token, count in (("train", 7, 16), ("eval", assets["vocab"] - 1, 3)):
        _write_tokenized(tmp_path / f"{name}.jsonl", [([token] * 24, [token] * 24)] * count)
    uri = f"file://{tmp_path}/bucket"
    settings = _values(
        assets, tmp_path / "a", data_path=str(tmp_path / "train.jsonl"),
        eval_data_path=str(tmp_path / "eval.jsonl"), validation_frequency=1,
        save_best_metric="val_loss", save_every=2, keep_last_n=1, effective_batch_size=4,
        learning_rate=3e-2, checkpoint_storage=uri)
    first = create_algorithm("sft", "trl").train(**{**settings, "max_steps": 2})
    root = tmp_path / "a" / "checkpoints"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["best", "checkpoint-2"]
    assert first.checkpoints == [str(root / "checkpoint-2")]
    values = [r["val_loss"] for r in _records(tmp_path / "a") if "val_loss" in r]
    assert len(values) == 2 and values[0] < values[1]
    marker = json.loads((root / "best" / "best.json").read_text())
    assert (marker["step"], marker["copied_from"]) == (1, "checkpoint-1")
    assert (root / "best" / "trainer_state.json").is_file()  # resumable by path
    assert json.loads((root / "best" / "trainer_state.json").read_text())["global_step"] == 1
    expected, _ = _independent_val_loss(root / "best", [([assets["vocab"] - 1] * 24,) * 2] * 3)
    assert abs(expected - values[0]) / values[0] < 1e-4

    remote = RemoteCheckpoints(uri, prefix="checkpoint")
    assert remote.complete_steps() == [2] and remote.has_complete_best()
    bucket_best = _files(tmp_path / "bucket" / "checkpoints" / "best")
    assert bucket_best == _files(root / "best")

    fresh = tmp_path / "b"  # nothing local: checkpoint-2 and best come from the bucket
    resumed = create_algorithm("sft", "trl").train(
        **{**settings, "ckpt_output_dir": str(fresh), "max_steps": 4, "resume": "latest"})
    assert resumed.steps == 4
    later = [r for r in _records(fresh) if "val_loss" in r]
    assert [r["step"] for r in later] == [3, 4]  # steps 1-2 were not trained again
    assert all(r["val_loss"] > values[0] for r in later)
    assert _files(fresh / "checkpoints" / "best") == bucket_best  # still the step-1 best
    assert remote.complete_steps() == [4]


def test_trl_refuses_storage_on_several_processes(
    assets: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the environment of a second process is faked: the check runs before anything.
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ParameterError, match="checkpoint_storage=.*one process only"):
        create_algorithm("sft", "trl").train(**_values(
            assets, tmp_path, checkpoint_storage=f"file://{tmp_path}/bucket"))


def test_dpo_on_trl_holds_out_pairs_and_evaluates_them(
    assets: dict[str, Any], tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    rng = random.Random(0)
    pairs.write_text("".join(json.dumps(
        {"prompt": f"what is {rng.randrange(5)} ?", "chosen": " one two .",
         "rejected": " the cat ."}) + "\n" for _ in range(10)))
    result = create_algorithm("dpo").train(**_values(
        assets, tmp_path / "out", data_path=str(pairs), effective_batch_size=4, max_steps=2,
        learning_rate=5e-3, validation_split=0.2, save_best_metric="val_loss",
        per_device_eval_batch_size=1))  # a peer name the trl backends carry out
    evaluations = [r for r in _records(tmp_path / "out") if "val_loss" in r]
    assert [r["step"] for r in evaluations] == [2]  # the last step (no frequency given)
    assert 0 < evaluations[0]["val_loss"] < 1.0 and "val_rewards/accuracies" in evaluations[0]
    assert result.best_checkpoint is not None
    assert json.loads((Path(result.best_checkpoint) / "best.json").read_text())["step"] == 2
