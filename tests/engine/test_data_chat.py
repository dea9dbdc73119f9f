"""Chat tokenization: assistant-only masks from templates without generation markers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from training_hub._errors import DataError
from training_hub.engine.data import tokenize_dataset

from ._data_helpers import (
    CHATML,
    IGNORE_INDEX,
    LLAMA3_DEFAULT_SYSTEM,
    NOT_INCREMENTAL,
    chat,
    make_tokenizer,
    trained_spans,
    write_jsonl,
)

TWO_TURNS = chat(
    ("system", "be nice"),
    ("user", "hello there"),
    ("assistant", "hello friend, how are you?"),
    ("user", "what is two plus two?"),
    ("assistant", "it is four."),
)


def _tokenize(tmp_path: Path, records: list, template: str = CHATML, **options):
    tokenizer = make_tokenizer(template)
    path = write_jsonl(tmp_path / "train.jsonl", records)
    options.setdefault("max_seq_len", 512)
    return tokenizer, tokenize_dataset(path, tokenizer, cache_dir=tmp_path / "cache", **options)


def _assert_shifted(ids: np.ndarray, labels: np.ndarray) -> None:
    """labels[t] is the target of ids[t]: either ids[t + 1] or ignored; the last is ignored."""
    assert labels[-1] == IGNORE_INDEX
    kept = labels[:-1] != IGNORE_INDEX
    assert np.array_equal(labels[:-1][kept], ids[1:][kept])


def test_chatml_masks_exactly_the_assistant_content_and_end_of_turn(tmp_path: Path) -> None:
    tokenizer, dataset = _tokenize(tmp_path, [TWO_TURNS])
    ids, labels = dataset.sample(0)
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template(
        TWO_TURNS["messages"], tokenize=False
    )
    assert trained_spans(tokenizer, labels) == [
        "hello friend, how are you?<|im_end|>",
        "it is four.<|im_end|>",
    ]
    _assert_shifted(np.asarray(ids), np.asarray(labels))


def test_llama3_template_with_default_system_prompt(tmp_path: Path) -> None:
    record = chat(("user", "hello there"), ("assistant", "  it is four. "))
    tokenizer, dataset = _tokenize(tmp_path, [record], LLAMA3_DEFAULT_SYSTEM)
    ids, labels = dataset.sample(0)
    text = tokenizer.decode(ids)
    assert text.startswith("<|begin_of_text|><|start_header_id|>system")
    assert "You are a helpful bot." in text
    assert trained_spans(tokenizer, labels) == ["it is four.<|eot_id|>"]
    _assert_shifted(np.asarray(ids), np.asarray(labels))


def test_per_sample_unmask_trains_every_token(tmp_path: Path) -> None:
    records = [dict(TWO_TURNS, unmask=True), TWO_TURNS]
    _, dataset = _tokenize(tmp_path, records)
    ids, labels = dataset.sample(0)
    assert labels.tolist() == [*ids[1:].tolist(), IGNORE_INDEX]
    assert dataset.loss_tokens[0] == len(ids) - 1
    assert dataset.loss_tokens[1] < dataset.loss_tokens[0]


def test_global_unmask_trains_every_token(tmp_path: Path) -> None:
    _, dataset = _tokenize(tmp_path, [TWO_TURNS], unmask=True)
    ids, labels = dataset.sample(0)
    assert labels.tolist() == [*ids[1:].tolist(), IGNORE_INDEX]


def test_template_that_is_not_incremental_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"train\.jsonl:1: cannot locate assistant turn messages\[2\]"
    ):
        _tokenize(tmp_path, [TWO_TURNS], NOT_INCREMENTAL)


def test_unmask_needs_no_incremental_template(tmp_path: Path) -> None:
    _, dataset = _tokenize(tmp_path, [TWO_TURNS], NOT_INCREMENTAL, unmask=True)
    assert dataset.stats.loss_tokens == len(dataset.sample(0)[0]) - 1


def test_sample_without_assistant_turn_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    no_answer = chat(("user", "hello there"))
    with caplog.at_level(logging.WARNING, logger="training_hub.data"):
        _, dataset = _tokenize(tmp_path, [TWO_TURNS, no_answer, TWO_TURNS])
    stats = dataset.stats
    assert stats.zero_loss_samples == 1
    assert stats.zero_loss_locations == [f"{tmp_path / 'train.jsonl'}:2"]
    assert "1 of 3 samples have no token that carries loss" in caplog.text
    assert "train.jsonl:2" in caplog.text


def test_data_without_any_loss_token_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="No token of .*train.jsonl carries loss"):
        _tokenize(tmp_path, [chat(("user", "hello")), chat(("system", "be nice"), ("user", "hi"))])


def test_over_long_samples_are_an_error_naming_count_and_lines(tmp_path: Path) -> None:
    short = chat(("user", "hi"), ("assistant", "fine"))
    with pytest.raises(DataError) as caught:
        _tokenize(tmp_path, [short, TWO_TURNS, short, TWO_TURNS], max_seq_len=30)
    message = str(caught.value)
    assert message.startswith("2 sample(s) are longer than max_seq_len=30 tokens")
    assert "train.jsonl:2 (" in message and "train.jsonl:4 (" in message
    assert "truncate" in message


def test_truncation_cuts_and_reports(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    short = chat(("user", "hi"), ("assistant", "fine"))
    with caplog.at_level(logging.WARNING, logger="training_hub.data"):
        tokenizer, dataset = _tokenize(tmp_path, [short, TWO_TURNS], max_seq_len=30, truncate=True)
    assert dataset.lengths.tolist() == [len(dataset.sample(0)[0]), 30]
    assert dataset.stats.truncated_samples == 1
    assert dataset.stats.samples_over_max_seq_len == 1
    assert "Truncated 1 of 2 samples to max_seq_len=30" in caplog.text
    ids, labels = dataset.sample(1)
    full = tokenizer(
        tokenizer.apply_chat_template(TWO_TURNS["messages"], tokenize=False),
        add_special_tokens=False,
    )["input_ids"]
    assert ids.tolist() == full[:30]
    _assert_shifted(np.asarray(ids), np.asarray(labels))
