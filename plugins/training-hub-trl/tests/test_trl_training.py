"""sft and dpo on TRL, end to end on a tiny Llama (CPU, a few steps each)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from training_hub import DataError, create_algorithm
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl

_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("trl-assets")
    model_path = folder / "model"
    make_tiny_model(model_path, make_tiny_tokenizer(model_path))
    return {"model": model_path, "chat": write_chat_jsonl(folder / "chat.jsonl", 16),
            "folder": folder}


def common(assets: dict[str, Path], output: Path, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "model_path": str(assets["model"]),
        "data_path": str(assets["chat"]),
        "ckpt_output_dir": str(output),
        "data_cache_dir": str(assets["folder"] / "cache"),
        "data_workers": 1,
        "max_tokens_per_gpu": 512,
        "max_seq_len": 128,
        "lr_scheduler": "constant",
        "checkpoint_at_epoch": False,
        "quiet": True,
        "tensorboard": False,
        "device": "cpu",
    }
    values.update(overrides)
    return values


def losses(metrics_path: str | Path, key: str = "loss") -> list[float]:
    return [json.loads(line)[key] for line in Path(metrics_path).read_text().splitlines()]


def test_sft_on_trl_follows_the_native_engine_step_for_step(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    # One step = the whole data set, so both backends see the same tokens at each step
    # (whatever their shuffling): the losses must agree.
    values = common(assets, tmp_path, effective_batch_size=16, learning_rate=1e-3, max_steps=3)
    native = create_algorithm("sft", "native").train(
        **{**values, "ckpt_output_dir": str(tmp_path / "native")}
    )
    trl = create_algorithm("sft", "trl").train(
        **{**values, "ckpt_output_dir": str(tmp_path / "trl")}
    )
    native_losses, trl_losses = losses(native.metrics_path), losses(trl.metrics_path)
    assert len(trl_losses) == 3 and trl_losses[-1] < trl_losses[0] - 0.2
    assert trl_losses == pytest.approx(native_losses, abs=1e-4)
    assert trl.final_loss == pytest.approx(native.final_loss, abs=1e-4)
    assert trl.steps == 3 and trl.tokens > 0

    # the final checkpoint is a complete Hugging Face model folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = Path(trl.last_checkpoint)
    assert final == tmp_path / "trl" / "checkpoints" / "checkpoint-3"
    assert trl.checkpoints == [str(final)]  # only the final one was asked for
    model = AutoModelForCausalLM.from_pretrained(str(final))
    assert model.config.use_cache is True
    assert AutoTokenizer.from_pretrained(str(final)).chat_template is not None
    # its model card is the native engine's (base model, backend, data hash, losses)
    card = (final / "README.md").read_text()
    assert "tags:\n- training-hub\n- sft\n- trl\n" in card
    assert f"| final training loss | {trl_losses[-1]:.6g} |" in card
    import hashlib

    assert hashlib.sha256(assets["chat"].read_bytes()).hexdigest() in card
    assert "16 samples" in card and f"from `{assets['model']}`" in card
    base = AutoModelForCausalLM.from_pretrained(str(assets["model"]))
    moved = max(
        float((p - q).abs().max())
        for p, q in zip(model.parameters(), base.parameters(), strict=True)
    )
    assert moved > 1e-3


def test_sft_on_trl_reports_data_errors_like_native(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n"
        + json.dumps({"messages": [{"role": "wizard", "content": "hi"}]}) + "\n"
    )
    errors = []
    for backend in ("native", "trl"):
        values = common(assets, tmp_path / backend, data_path=str(bad))
        with pytest.raises(DataError) as caught:
            create_algorithm("sft", backend).train(**values)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert f"{bad}:2" in errors[1]


def write_pairs(path: Path, count: int, *, chat: bool = False) -> Path:
    rng = random.Random(0)
    with path.open("w") as handle:
        for _ in range(count):
            a, b = rng.randrange(5), rng.randrange(5)
            question = f"what is {_NUMBERS[a]} plus {_NUMBERS[b]} ?"
            good = f"{_NUMBERS[a]} plus {_NUMBERS[b]} equals {_NUMBERS[a + b]} ."
            bad = f"the {rng.choice(['cat', 'dog'])} is red ."
            if chat:
                user = {"role": "user", "content": question}
                record: dict[str, Any] = {
                    "chosen": [user, {"role": "assistant", "content": good}],
                    "rejected": [user, {"role": "assistant", "content": bad}],
                }
            else:
                record = {"prompt": question, "chosen": " " + good, "rejected": " " + bad}
            handle.write(json.dumps(record) + "\n")
    return path


def test_dpo_learns_the_preferences(assets: dict[str, Path], tmp_path: Path) -> None:
    pairs = write_pairs(tmp_path / "pairs.jsonl", 16)
    result = create_algorithm("dpo").train(
        **common(assets, tmp_path / "out", data_path=str(pairs), effective_batch_size=8,
                 learning_rate=5e-3, max_steps=4, beta=0.1)
    )
    dpo_losses = losses(result.metrics_path)
    accuracies = losses(result.metrics_path, "rewards/accuracies")
    assert dpo_losses[0] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy == reference
    assert dpo_losses[-1] < 0.5
    assert accuracies[0] == 0.0 and accuracies[-1] == 1.0
    assert result.last_metrics["rewards/margins"] > 0.3
    assert result.steps == 4 and result.final_loss == pytest.approx(dpo_losses[-1])

    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = Path(result.last_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(str(final))
    tokenizer = AutoTokenizer.from_pretrained(str(final))
    prompt = tokenizer("what is two plus one ?", return_tensors="pt").input_ids

    def answer_logprob(lm: Any, answer: str) -> float:
        ids = torch.cat([prompt, tokenizer(" " + answer, return_tensors="pt").input_ids], 1)
        with torch.no_grad():
            logits = lm(ids).logits[0, :-1].log_softmax(-1)
        targets = ids[0, 1:]
        return float(logits.gather(1, targets[:, None])[prompt.shape[1] - 1 :].sum())

    base = AutoModelForCausalLM.from_pretrained(str(assets["model"]))
    good, bad = "two plus one equals three .", "the cat is red ."
    margin_after = answer_logprob(model, good) - answer_logprob(model, bad)
    margin_before = answer_logprob(base, good) - answer_logprob(base, bad)
    assert margin_after > margin_before + 1.0  # the saved model prefers the chosen answer


def test_dpo_chat_pairs_longer_than_max_seq_len_name_their_records(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    pairs = write_pairs(tmp_path / "chat-pairs.jsonl", 4, chat=True)
    values = common(assets, tmp_path / "out", data_path=str(pairs), max_seq_len=12,
                    effective_batch_size=2)
    with pytest.raises(DataError) as caught:
        create_algorithm("dpo").train(**values)
    message = str(caught.value)
    assert "4 preference pair(s) are longer than max_seq_len=12" in message
    assert f"{pairs}:1:" in message and "truncate=True" in message


def test_sft_on_trl_writes_tensorboard_where_native_does_and_resumes_cleanly(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("tensorboard")
    import shutil

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def shown(folder: Path) -> dict[int, float]:
        events = EventAccumulator(str(folder))
        events.Reload()
        scalars = events.Scalars("train/loss")
        steps = [s.step for s in scalars]
        assert len(steps) == len(set(steps)), f"a step is shown twice: {steps}"
        return {s.step: s.value for s in scalars}

    output = tmp_path / "trl"
    values = common(assets, output, effective_batch_size=4, learning_rate=1e-3, max_steps=4,
                    save_every=2, logging_steps=1, tensorboard=True)
    first = create_algorithm("sft", "trl").train(**values)
    assert sorted(shown(output / "tensorboard")) == [1, 2, 3, 4]
    assert not (output / "checkpoints" / "runs").exists()  # transformers' default place
    # As if the run died after logging step 4 but before saving its checkpoint.
    shutil.rmtree(first.last_checkpoint)
    resumed = create_algorithm("sft", "trl").train(**{**values, "resume": "latest"})
    assert resumed.steps == 4
    logged = {json.loads(line)["step"]: json.loads(line)["loss"]
              for line in Path(resumed.metrics_path).read_text().splitlines()}
    board = shown(output / "tensorboard")
    assert sorted(board) == sorted(logged) == [1, 2, 3, 4]
    assert all(board[step] == pytest.approx(logged[step], rel=1e-5) for step in logged)
