"""Readers, record validation, document/tokenized formats, the cache and the stats."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from training_hub._errors import DataError
from training_hub.engine.data import load_training_data, tokenize_dataset
from training_hub.engine.data import tokenizing as tokenizing_module
from training_hub.training_params import TrainingParams

from ._data_helpers import IGNORE_INDEX, chat, make_tokenizer, write_jsonl

GOOD = chat(("user", "hello there"), ("assistant", "it is four."))


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def _load(path: Path, tokenizer, **options):
    options.setdefault("max_seq_len", 256)
    return tokenize_dataset(path, tokenizer, cache_dir=path.parent / "cache", **options)


# --- errors name the file, the line and the field ------------------------------------------
@pytest.mark.parametrize(
    ("lines", "options", "expected"),
    [
        ([json.dumps(GOOD), '{"messages": [}'], {}, r"train\.jsonl:2: malformed JSON"),
        ([json.dumps(GOOD), "", "[1, 2]"], {}, r"train\.jsonl:3: a record must be a JSON object"),
        (
            [json.dumps(GOOD), '{"text": "hi"}'],
            {"data_format": "chat"},
            r"train\.jsonl:2: missing field 'messages'",
        ),
        (
            [json.dumps(chat(("robot", "beep")))],
            {},
            r"train\.jsonl:1: messages\[0\]\.role is 'robot'; allowed roles are system, user",
        ),
        (
            [json.dumps(GOOD), json.dumps(chat(("user", "hi"), ("assistant", " ")))],
            {},
            r"train\.jsonl:2: messages\[1\]\.content is empty",
        ),
        (
            [json.dumps({"messages": [{"role": "user", "content": 3}]})],
            {},
            r"train\.jsonl:1: messages\[0\]\.content must be a string, got int",
        ),
        ([json.dumps(dict(GOOD, unmask="yes"))], {}, r"train\.jsonl:1: field 'unmask' must be"),
        (
            [json.dumps(GOOD), json.dumps({"document": "hello there"})],
            {},
            r"train\.jsonl:2: mixed formats: this record is document but the first record is chat",
        ),
        (['{"foo": 1}'], {}, r"train\.jsonl:1: cannot detect the data format"),
        ([json.dumps({"input_ids": [1, 2, 99999]})], {}, r"train\.jsonl:1: .*token id 99999"),
        (
            [json.dumps({"input_ids": [5, 6], "labels": [5]})],
            {},
            r"train\.jsonl:1: field 'labels' has 1 entries but 'input_ids' has 2",
        ),
        ([json.dumps({"document": ""})], {}, r"train\.jsonl:1: field 'document' is empty"),
        (["", "  "], {}, r"train\.jsonl holds no records; it is empty"),
    ],
)
def test_jsonl_errors_name_file_line_and_field(
    tmp_path: Path, tokenizer, lines: list[str], options: dict, expected: str
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=expected):
        _load(path, tokenizer, **options)


def test_all_invalid_records_are_counted_in_one_error(tmp_path: Path, tokenizer) -> None:
    bad = chat(("user", ""))
    path = write_jsonl(tmp_path / "train.jsonl", [GOOD, bad, GOOD, bad, bad])
    with pytest.raises(DataError) as caught:
        _load(path, tokenizer)
    message = str(caught.value)
    assert message.startswith("3 invalid record(s) in the chat training data")
    assert all(f"train.jsonl:{line}:" in message for line in (2, 4, 5))


def test_json_list_and_data_key_with_record_index_in_errors(tmp_path: Path, tokenizer) -> None:
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([GOOD, GOOD]))
    assert len(_load(as_list, tokenizer)) == 2
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": [GOOD, {"messages": []}]}))
    with pytest.raises(DataError, match=r"wrapped\.json record 1: field 'messages' must be"):
        _load(wrapped, tokenizer)
    broken = tmp_path / "broken.json"
    broken.write_text('[\n{"messages": 1},\n{oops}\n]')
    with pytest.raises(DataError, match=r"broken\.json:3: malformed JSON"):
        _load(broken, tokenizer)


def test_parquet_rows_read_and_errors_name_the_row(tmp_path: Path, tokenizer) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist([GOOD, GOOD]), path)
    jsonl = write_jsonl(tmp_path / "same.jsonl", [GOOD, GOOD])
    from_parquet, from_jsonl = _load(path, tokenizer), _load(jsonl, tokenizer)
    assert np.array_equal(from_parquet.input_ids, from_jsonl.input_ids)
    assert np.array_equal(from_parquet.labels, from_jsonl.labels)
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([GOOD, chat(("user", "hi"), ("bot", "x"))]), bad)
    with pytest.raises(DataError, match=r"bad\.parquet row 1: messages\[1\]\.role is 'bot'"):
        _load(bad, tokenizer)


def test_missing_file_and_unknown_ending(tmp_path: Path, tokenizer) -> None:
    with pytest.raises(DataError, match="does not exist"):
        _load(tmp_path / "nope.jsonl", tokenizer)
    csv = tmp_path / "train.csv"
    csv.write_text("a,b\n")
    with pytest.raises(DataError, match=r"ending '\.csv'; use one of \.jsonl, \.json, \.parquet"):
        _load(csv, tokenizer)


# --- document and pre-tokenized formats -----------------------------------------------------
def test_document_trains_every_token_and_ends_with_eos(tmp_path: Path, tokenizer) -> None:
    path = write_jsonl(tmp_path / "docs.jsonl", [{"document": "the quick brown fox"}])
    dataset = _load(path, tokenizer)
    ids, labels = dataset.sample(0)
    assert dataset.data_format == "document"
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[:-1]) == "the quick brown fox"
    assert labels.tolist() == [*ids[1:].tolist(), IGNORE_INDEX]


def test_tokenized_labels_default_to_input_ids_and_are_shifted(tmp_path: Path, tokenizer) -> None:
    records = [
        {"input_ids": [10, 11, 12, 13]},
        {"input_ids": [20, 21, 22, 23, 24], "labels": [-100, -100, 22, 23, 24]},
    ]
    dataset = _load(write_jsonl(tmp_path / "tok.jsonl", records), tokenizer)
    assert dataset.data_format == "tokenized"
    assert dataset.sample(0)[1].tolist() == [11, 12, 13, IGNORE_INDEX]
    assert dataset.sample(1)[1].tolist() == [-100, 22, 23, 24, IGNORE_INDEX]
    stats = dataset.stats.to_dict()
    assert stats == {
        "data_format": "tokenized",
        "num_samples": 2,
        "total_tokens": 9,
        "loss_tokens": 6,
        "masked_fraction": pytest.approx(3 / 9),
        "longest_sample": 5,
        "mean_length": 4.5,
        "max_seq_len": 256,
        "samples_over_max_seq_len": 0,
        "truncated_samples": 0,
        "zero_loss_samples": 0,
        "zero_loss_locations": [],
    }


# --- cache ------------------------------------------------------------------------------------
def test_second_load_comes_from_the_cache(tmp_path: Path, tokenizer) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [GOOD] * 3)
    first = _load(path, tokenizer)
    assert not first.from_cache
    meta = first.cache_path / "meta.json"
    written = meta.stat().st_mtime_ns
    second = _load(path, tokenizer)
    assert second.from_cache and second.cache_path == first.cache_path
    assert meta.stat().st_mtime_ns == written  # nothing rewritten
    assert np.array_equal(second.input_ids, first.input_ids)
    assert np.array_equal(second.labels, first.labels)
    assert second.stats == first.stats
    assert not [p for p in first.cache_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "change", ["option", "data", "template"], ids=["max_seq_len", "file bytes", "chat template"]
)
def test_cache_key_changes_with_options_data_and_tokenizer(
    tmp_path: Path, tokenizer, change: str
) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [GOOD])
    first = _load(path, tokenizer)
    other_tokenizer = tokenizer
    options = {}
    if change == "option":
        options["max_seq_len"] = 200
    elif change == "data":
        write_jsonl(path, [GOOD, GOOD])
    else:
        other_tokenizer = make_tokenizer()
        other_tokenizer.chat_template = "{{ 'x' }}" + tokenizer.chat_template
    second = _load(path, other_tokenizer, **options)
    assert not second.from_cache
    assert second.cache_path != first.cache_path


def test_parallel_workers_give_the_same_tokens(
    tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    records = [
        chat(("user", f"hello {i}"), ("assistant", "fine " * (i % 7 + 1))) for i in range(60)
    ]
    path = write_jsonl(tmp_path / "train.jsonl", records)
    single = _load(path, tokenizer, workers=1)
    monkeypatch.setattr(tokenizing_module, "PARALLEL_MIN_SAMPLES", 10)
    caplog.set_level(logging.WARNING, logger="training_hub.data")
    parallel = tokenize_dataset(
        path, tokenizer, max_seq_len=256, cache_dir=tmp_path / "c2", workers=2
    )
    assert np.array_equal(parallel.input_ids, single.input_ids)
    assert np.array_equal(parallel.labels, single.labels)
    assert np.array_equal(parallel.offsets, single.offsets)
    assert "failed to start" not in caplog.text  # the workers really ran


def test_load_training_data_uses_the_run_parameters(tmp_path: Path, tokenizer) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [GOOD, dict(GOOD, unmask=True)])
    params = TrainingParams(
        model_path="unused",
        data_path=str(path),
        ckpt_output_dir=str(tmp_path / "out"),
        data_cache_dir=str(tmp_path / "cache"),
        max_seq_len=64,
        max_tokens_per_gpu=64,
        unmask=True,
    )
    dataset = load_training_data(params, tokenizer)
    assert dataset.cache_path.parent == tmp_path / "cache"
    assert dataset.stats.max_seq_len == 64
    assert dataset.loss_tokens.tolist() == (dataset.lengths - 1).tolist()  # unmask everywhere
