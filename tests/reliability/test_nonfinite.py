"""Non-finite loss: an error that names the step and keeps the last good checkpoint, or skips.

The fault is real, not patched in: the model's embedding row of one token
("cat") is +inf, so exactly the steps whose sample holds that token produce a
NaN loss (RMSNorm turns inf into NaN), and every other step trains normally.
The data is pre-tokenized with one sample per step, so which step fails is
known in advance from the engine's public step planner.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from training_hub._errors import TrainingError
from training_hub.engine import train
from training_hub.engine.checkpoint import find_latest_checkpoint, list_checkpoints
from training_hub.engine.data import StepBatcher, tokenize_dataset
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer

from ._reliability_helpers import (
    ReliabilityAssets,
    checkpoint_weights,
    folder_digest,
    metrics_rows,
    run_params,
)

SAMPLES = 6
POISONED_STEP = 3  # 1-based: the third step of the epoch holds the token whose embedding is inf
_WORDS = "the a one two dog bird fish tree red blue green big small runs".split()


def _write_tokenized(path: Path, rows: list[list[int]]) -> Path:
    path.write_text("".join(json.dumps({"input_ids": ids}) + "\n" for ids in rows))
    return path


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReliabilityAssets, int]:
    """(assets whose data holds the poisoned token in the sample of step 3, its token id)."""
    folder = tmp_path_factory.mktemp("nonfinite")
    model_path = folder / "model"
    tokenizer = make_tiny_tokenizer(model_path)
    poison_id = tokenizer.convert_tokens_to_ids("cat")
    model = make_tiny_model(model_path, tokenizer)
    with torch.no_grad():
        model.get_input_embeddings().weight[poison_id] = math.inf
    model.save_pretrained(str(model_path))

    clean_ids = tokenizer.convert_tokens_to_ids(_WORDS)
    rows = [[clean_ids[(s * 5 + t) % len(clean_ids)] for t in range(12)] for s in range(SAMPLES)]
    clean = _write_tokenized(folder / "plan.jsonl", rows)
    dataset = tokenize_dataset(clean, tokenizer, max_seq_len=32, cache_dir=folder / "cache")
    batcher = StepBatcher(
        dataset, effective_batch_size=1, max_tokens_per_gpu=64, num_epochs=1, seed=7,
    )
    [[[victim]]] = batcher.plan_step(0, POISONED_STEP - 1)
    rows[victim][4] = poison_id
    data_path = _write_tokenized(folder / "poisoned.jsonl", rows)
    return ReliabilityAssets(model_path, data_path, folder / "cache"), poison_id


def _settings(**overrides: object) -> dict[str, object]:
    return {
        "effective_batch_size": 1, "max_tokens_per_gpu": 64, "max_seq_len": 32,
        "max_steps": SAMPLES, "save_every": 1, "warmup_steps": 0, **overrides,
    }


@pytest.fixture
def engine_log() -> Iterator[list[str]]:
    """Messages the engine logs during the test."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(level=logging.INFO)
    engine_logger = logging.getLogger("training_hub.engine")
    previous = engine_logger.level
    engine_logger.setLevel(logging.INFO)
    engine_logger.addHandler(handler)
    yield messages
    engine_logger.removeHandler(handler)
    engine_logger.setLevel(previous)


def test_nonfinite_loss_names_the_step_and_keeps_the_last_good_checkpoint(
    poisoned: tuple[ReliabilityAssets, int], tmp_path: Path
) -> None:
    assets, poison_id = poisoned
    output = tmp_path / "run"
    with pytest.raises(TrainingError) as failure:
        train(run_params(assets, output, **_settings()))
    good = output / "checkpoints" / f"step-{POISONED_STEP - 1}"
    message = str(failure.value)
    assert message.startswith(f"Step {POISONED_STEP}: the loss (nan) or gradient norm (nan)")
    assert f"The last good checkpoint ({good}) was kept" in message
    assert "Lower learning_rate" in message and "on_nonfinite='skip'" in message

    assert find_latest_checkpoint(output) == good
    assert [c.step for c in list_checkpoints(output)] == list(range(1, POISONED_STEP))
    assert not list((output / "checkpoints").glob(".tmp-*"))
    assert [row["step"] for row in metrics_rows(output)] == list(range(1, POISONED_STEP))
    for name, tensor in checkpoint_weights(good).items():
        finite = torch.isfinite(tensor)
        if name == "model.embed_tokens.weight":
            finite[poison_id] = True  # inf from the start, by construction
        assert finite.all(), name


def _resume_into_the_poisoned_step(
    assets: ReliabilityAssets, output: Path
) -> tuple[Path, dict[str, str], str]:
    train(run_params(assets, output, **_settings(max_steps=POISONED_STEP - 1)))
    good = output / "checkpoints" / f"step-{POISONED_STEP - 1}"
    digest = folder_digest(good)
    with pytest.raises(TrainingError) as failure:
        train(run_params(assets, output, **_settings(resume="latest")))
    return good, digest, str(failure.value)


def test_nonfinite_after_resume_leaves_the_resumed_checkpoint_untouched(
    poisoned: tuple[ReliabilityAssets, int], tmp_path: Path
) -> None:
    assets, _ = poisoned
    output = tmp_path / "run"
    good, digest, message = _resume_into_the_poisoned_step(assets, output)
    assert message.startswith(f"Step {POISONED_STEP}: the loss (nan)")
    assert find_latest_checkpoint(output) == good
    assert folder_digest(good) == digest  # byte for byte
    assert [row["step"] for row in metrics_rows(output)] == list(range(1, POISONED_STEP))


def test_nonfinite_after_resume_names_the_resumed_checkpoint(
    poisoned: tuple[ReliabilityAssets, int], tmp_path: Path
) -> None:
    assets, _ = poisoned
    good, _, message = _resume_into_the_poisoned_step(assets, tmp_path / "run")
    assert f"The last good checkpoint ({good}) was kept" in message


def test_nonfinite_from_the_first_step_says_no_checkpoint_exists(
    poisoned: tuple[ReliabilityAssets, int], tmp_path: Path
) -> None:
    assets, poison_id = poisoned
    everything_poisoned = _write_tokenized(tmp_path / "all.jsonl", [[poison_id] * 8] * 2)
    params = run_params(
        assets, tmp_path / "run", data_path=str(everything_poisoned), **_settings(max_steps=2)
    )
    with pytest.raises(TrainingError, match=r"^Step 1: .*The last good checkpoint \(none\)"):
        train(params)
    assert list_checkpoints(tmp_path / "run") == []


def test_on_nonfinite_skip_continues_and_logs_each_skip(
    poisoned: tuple[ReliabilityAssets, int], tmp_path: Path, engine_log: list[str]
) -> None:
    assets, poison_id = poisoned
    output = tmp_path / "run"
    result = train(run_params(assets, output, **_settings(on_nonfinite="skip")))
    assert result.steps == SAMPLES

    rows = metrics_rows(output)
    assert [row["step"] for row in rows] == list(range(1, SAMPLES + 1))
    assert [row["skipped"] for row in rows] == [n == POISONED_STEP for n in range(1, SAMPLES + 1)]
    assert math.isnan(rows[POISONED_STEP - 1]["loss"])
    assert all(math.isfinite(row["loss"]) for row in rows if not row["skipped"])
    assert f"step {POISONED_STEP}: non-finite loss/gradient, step skipped" in engine_log
    assert result.final_loss is not None and math.isfinite(result.final_loss)

    root = output / "checkpoints"
    before = checkpoint_weights(root / f"step-{POISONED_STEP - 1}")
    skipped = checkpoint_weights(root / f"step-{POISONED_STEP}")
    after = checkpoint_weights(root / f"step-{POISONED_STEP + 1}")
    assert all(torch.equal(before[k], skipped[k]) for k in before)  # the skip changed nothing
    assert any(not torch.equal(skipped[k], after[k]) for k in before)  # training went on
    for name, tensor in checkpoint_weights(result.last_checkpoint).items():
        finite = torch.isfinite(tensor)
        if name == "model.embed_tokens.weight":
            finite[poison_id] = True  # the poisoned row itself stays inf
        assert finite.all(), name
