"""Evaluation during training: val_loss against an independent computation, the held-out
split, when evaluation runs, the best checkpoint, the errors, and two processes = one."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_hub._errors import DataError, ParameterError
from training_hub._params import validate_params
from training_hub.callbacks import TrainingHubCallback, TrainingHubContext
from training_hub.engine import train
from training_hub.engine.data import TokenizedDataset
from training_hub.engine.data.split import hold_out, validation_indices
from training_hub.engine.distributed import SHARD_ON_CPU_ENV
from training_hub.engine.evaluation import load_run_data
from training_hub.engine.launch import launch
from training_hub.trackers import default_trackers
from training_hub.training_params import TrainingParams

from ._engine_helpers import (
    TinyAssets,
    build_assets,
    checkpoint_weights,
    free_port,
    max_weight_difference,
    subprocess_env,
    tiny_params,
)

Sample = tuple[list[int], list[int]]  # input_ids, labels (-100: no loss), as in the file


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    return build_assets(tmp_path_factory.mktemp("tiny"), samples=24)


def _vocab_size(assets: TinyAssets) -> int:
    return len(AutoTokenizer.from_pretrained(str(assets.model_path)))


def _random_samples(
    count: int, vocab: int, seed: int, lengths: range = range(6, 30)
) -> list[Sample]:
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        length = rng.choice(lengths)
        ids = [rng.randrange(5, vocab) for _ in range(length)]
        prompt = rng.randrange(1, length // 2)  # the first tokens carry no loss
        samples.append((ids, [-100] * prompt + ids[prompt:]))
    return samples


def _write_tokenized(path: Path, samples: list[Sample]) -> Path:
    path.write_text(
        "".join(json.dumps({"input_ids": i, "labels": lab}) + "\n" for i, lab in samples)
    )
    return path


def _independent_val_loss(checkpoint: str | Path, samples: list[Sample]) -> tuple[float, int]:
    """Plain Hugging Face forward of each sample; masked cross-entropy summed over every
    sample, divided by the number of loss tokens of all of them."""
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


def _evaluations(output: Path) -> list[dict[str, Any]]:
    return [r for r in _records(output) if "val_loss" in r]


class _SeesEvaluations(TrainingHubCallback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, dict[str, Any]]] = []

    def on_evaluate(self, context: TrainingHubContext) -> None:
        self.seen.append((context.step, dict(context.metrics)))


@pytest.fixture(scope="module")
def eval_run(assets: TinyAssets, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One process, eval_data_path, evaluated after each of 2 steps (each step saved)."""
    folder = tmp_path_factory.mktemp("eval_run")
    samples = _random_samples(5, _vocab_size(assets), seed=1)
    eval_path = _write_tokenized(folder / "eval.jsonl", samples)
    settings = {"max_steps": 2, "adam_eps": 1e-6, "eval_data_path": str(eval_path),
                "validation_frequency": 1, "max_tokens_per_gpu": 64, "max_seq_len": 64}
    watcher = _SeesEvaluations()
    output = folder / "out"
    params = tiny_params(assets, output, save_every=1, save_best_metric="val_loss", **settings)
    train(params, callbacks=[watcher, *default_trackers()])
    return {"output": output, "samples": samples, "settings": settings, "watcher": watcher}


def test_val_loss_equals_an_independent_computation(eval_run: dict[str, Any]) -> None:
    output, samples = eval_run["output"], eval_run["samples"]
    evaluations = _evaluations(output)
    assert [r["step"] for r in evaluations] == [1, 2]
    for record in evaluations:
        expected, loss_tokens = _independent_val_loss(
            output / "checkpoints" / f"step-{record['step']}", samples
        )
        assert abs(record["val_loss"] - expected) / expected < 1e-4
        assert record["val_num_tokens"] == loss_tokens
        assert record["val_num_samples"] == len(samples)
    # on_evaluate saw the same numbers, at the same steps
    assert [(step, m["val_loss"]) for step, m in eval_run["watcher"].seen] == [
        (r["step"], r["val_loss"]) for r in evaluations
    ]
    # save_best_metric: checkpoints/best is the step with the lowest val_loss, linked from it
    best = min(evaluations, key=lambda r: r["val_loss"])
    marker = json.loads((output / "checkpoints" / "best" / "best.json").read_text())
    assert (marker["metric"], marker["step"]) == ("val_loss", best["step"])
    assert marker["value"] == pytest.approx(best["val_loss"], rel=1e-12)
    assert max_weight_difference(
        checkpoint_weights(output / "checkpoints" / "best"),
        checkpoint_weights(output / "checkpoints" / f"step-{best['step']}"),
    ) == 0.0


def test_two_processes_evaluate_like_one(
    assets: TinyAssets, eval_run: dict[str, Any], tmp_path: Path
) -> None:
    """FSDP2 sharding on two gloo processes; each rank evaluates part of the 5 samples
    (one rank gets a dummy micro-batch to stay in lockstep), the sums are reduced."""
    params = tiny_params(assets, tmp_path / "two", nproc_per_node=2, master_port=free_port(),
                         **eval_run["settings"])
    assert launch(params, env={**subprocess_env(), SHARD_ON_CPU_ENV: "1"}) == 0
    one, two = _evaluations(eval_run["output"]), _evaluations(tmp_path / "two")
    assert [r["step"] for r in two] == [1, 2]
    for single, double in zip(one, two, strict=True):
        assert abs(double["val_loss"] - single["val_loss"]) / single["val_loss"] < 1e-4
        assert double["val_num_tokens"] == single["val_num_tokens"]


def test_validation_split_holds_out_samples_never_trained_on(
    assets: TinyAssets, tmp_path: Path
) -> None:
    samples = _random_samples(20, _vocab_size(assets), seed=2, lengths=range(8, 40))
    data = _write_tokenized(tmp_path / "train.jsonl", samples)
    params = tiny_params(assets, tmp_path / "out", data_path=str(data), validation_split=0.25,
                         max_steps=None, num_epochs=2, effective_batch_size=4,
                         validation_frequency=3, checkpoint_at_epoch=False)

    tokenizer = AutoTokenizer.from_pretrained(str(assets.model_path))
    training, validation = load_run_data(params, tokenizer)
    held = validation_indices(20, 0.25, params.seed)
    kept = sorted(set(range(20)) - set(held.tolist()))
    line = 1  # record_index of a JSONL sample is its line number
    assert len(held) == 5 and list(validation.record_index - line) == list(held)
    assert list(training.record_index - line) == kept
    _, again = load_run_data(params, tokenizer)  # another rank, or a resumed run
    assert list(again.record_index) == list(validation.record_index)
    assert list(validation_indices(20, 0.25, params.seed + 1)) != list(held)

    train(params)
    records = _records(tmp_path / "out")
    evaluations = [r for r in records if "val_loss" in r]
    # every 3 steps, at each epoch end (4 steps of 15 samples) and after the last step
    assert [r["step"] for r in evaluations] == [3, 4, 6, 8]
    # epoch 1 trained on exactly the 15 kept samples: their tokens, no held-out token
    end_of_epoch = next(r for r in records if r.get("step") == 4 and "loss" in r)
    assert end_of_epoch["tokens"] == sum(len(samples[i][0]) for i in kept)
    held_samples = [samples[i] for i in held]
    expected, loss_tokens = _independent_val_loss(
        tmp_path / "out" / "checkpoints" / "step-8", held_samples
    )
    assert evaluations[-1]["val_num_tokens"] == loss_tokens
    assert abs(evaluations[-1]["val_loss"] - expected) / expected < 1e-4


def test_best_checkpoint_survives_pruning_and_resume(assets: TinyAssets, tmp_path: Path) -> None:
    """Training on one token while validating on another: val_loss only gets worse after
    the first evaluation, so the best stays step 1 while keep_last_n=1 prunes the rest."""
    vocab = _vocab_size(assets)
    trained = [([7] * 24, [7] * 24) for _ in range(16)]
    other = [([vocab - 1] * 24, [vocab - 1] * 24) for _ in range(3)]
    data = _write_tokenized(tmp_path / "train.jsonl", trained)
    eval_path = _write_tokenized(tmp_path / "eval.jsonl", other)
    settings = {"data_path": str(data), "eval_data_path": str(eval_path),
                "validation_frequency": 1, "save_best_metric": "val_loss", "keep_last_n": 1,
                "save_every": 2, "learning_rate": 3e-2}  # 1e-2: val_loss dips at step 2
    output = tmp_path / "out"
    train(tiny_params(assets, output, **{**settings, "max_steps": 2}))
    train(tiny_params(assets, output, resume="latest", **{**settings, "max_steps": 4}))

    evaluations = _evaluations(output)
    assert [r["step"] for r in evaluations] == [1, 2, 3, 4]
    values = [r["val_loss"] for r in evaluations]
    assert values == sorted(values) and values[0] < values[-1]  # later ones are worse
    root = output / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["best", "step-4"]
    marker = json.loads((root / "best" / "best.json").read_text())
    assert (marker["step"], marker["copied_from"]) == (1, None)  # step 1 was never saved
    assert marker["value"] == pytest.approx(values[0], rel=1e-12)
    expected, _ = _independent_val_loss(root / "best", other)
    assert abs(expected - values[0]) / values[0] < 1e-4
    assert (root / "best" / "training_state" / "trainer_state.json").is_file()
    # the best folder is a complete checkpoint: training resumes from it by path
    resumed = train(tiny_params(assets, tmp_path / "from_best", resume=str(root / "best"),
                                **{**settings, "max_steps": 2}))
    assert resumed.steps == 2


def _values(assets: TinyAssets, output: Path, **overrides: Any) -> dict[str, Any]:
    return {"model_path": str(assets.model_path), "data_path": str(assets.data_path),
            "ckpt_output_dir": str(output), **overrides}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"validation_split": 1.0}, "validation_split"),
        ({"validation_split": -0.1}, "validation_split"),
        ({"validation_split": 0.1, "eval_data_path": "eval.jsonl"}, "keep one"),
        ({"validation_frequency": 10}, "needs validation data"),
        ({"save_best_metric": "val_loss"}, "needs validation data"),
        ({"validation_split": 0.1, "save_best_metric": "accuracy"}, "save_best_metric"),
    ],
)
def test_evaluation_parameters_are_checked(
    assets: TinyAssets, tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ParameterError, match=message):
        validate_params(TrainingParams, _values(assets, tmp_path, **overrides))


def test_a_split_that_leaves_no_sample_is_a_data_error(assets: TinyAssets, tmp_path: Path) -> None:
    two = TokenizedDataset.from_samples([([5, 6, 7], [6, 7, -100]), ([8, 9], [9, -100])])
    with pytest.raises(DataError, match="leaves no sample to train on"):
        hold_out(two, 0.5 + 1e-9, seed=0)  # ceil(0.5 * 2 + tiny) = 2 of 2
    no_loss = TokenizedDataset.from_samples([([5, 6], [6, -100]), ([8, 9], [-100, -100])] * 2)
    with pytest.raises(DataError, match="carry no loss token"):
        hold_out(no_loss, 0.5, seed=next(s for s in range(50) if set(
            validation_indices(4, 0.5, s).tolist()) == {1, 3}))
    training, validation = hold_out(two, 0.4, seed=0)
    assert len(training) == 1 and len(validation) == 1
    assert training.input_ids.size + validation.input_ids.size == 5
    params = tiny_params(assets, tmp_path, eval_data_path=str(tmp_path / "missing.jsonl"))
    with pytest.raises(DataError, match="eval_data_path"):
        load_run_data(params, AutoTokenizer.from_pretrained(str(assets.model_path)))
    assert len(validation_indices(24, 0.05, 0)) == math.ceil(0.05 * 24) == 2
