"""Fuzzed bad input: malformed data records and junk command-line values.

Promise: every malformed record ends in a DataError that names the file and
the line (exit code 2 in the CLI), never a traceback, and nothing is written:
no output folder, no cache entry. Every junk flag value ends in exit code 2
with a message naming the parameter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from training_hub._errors import DataError
from training_hub.engine.data import tokenize_dataset
from training_hub.testing.tiny import TINY_WORDS
from training_hub.training_params import TrainingParams

from ._reliability_helpers import ReliabilityAssets, cli_args, run_settings, th_in_process

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # no example database in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- strategies of valid and malformed records ------------------------------------------

_ROLES = ("system", "user", "assistant", "tool")
_text_char = st.characters(exclude_categories=("Cs",), exclude_characters="\r\n")
_words = st.lists(st.sampled_from(TINY_WORDS), min_size=1, max_size=6).map(" ".join)
_valid_chat = st.builds(
    lambda q, a: {"messages": [{"role": "user", "content": q},
                               {"role": "assistant", "content": a}]},
    _words, _words,
)
_json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(_text_char)
)
_non_string = st.one_of(st.none(), st.booleans(), st.integers(), st.lists(st.integers()),
                        st.dictionaries(st.text(_text_char, max_size=3), st.integers(), max_size=2))


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _with_message(message: dict[str, Any], position: int) -> dict[str, Any]:
    messages: list[Any] = [{"role": "user", "content": "hi"},
                           {"role": "assistant", "content": "yes ."}]
    messages.insert(min(position, len(messages)), message)
    return {"messages": messages}


_bad_message = st.one_of(
    st.builds(lambda r: {"role": r, "content": "hi"},
              st.text(_text_char, max_size=10).filter(lambda r: r not in _ROLES)),
    st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(_ROLES), _non_string),
    st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(_ROLES),
              st.text(" \t", max_size=3)),
    st.builds(lambda r: {"role": r}, st.sampled_from(_ROLES)),
    _json_scalar,
)
_bad_record = st.one_of(
    st.builds(_with_message, _bad_message, st.integers(0, 2)),
    st.builds(lambda m: {"messages": m}, st.one_of(_json_scalar, st.just([]))),
    st.dictionaries(st.text(_text_char, max_size=8).filter(lambda k: k != "messages"),
                    _json_scalar, max_size=3),
    st.builds(lambda u: {**_with_message({"role": "user", "content": "a"}, 0), "unmask": u},
              st.one_of(st.integers(), st.text(_text_char), st.lists(st.booleans()))),
    st.builds(lambda d: {"document": d}, st.text(_text_char, min_size=1)),  # mixed formats
    st.builds(lambda ids: {"input_ids": ids}, st.lists(st.integers(0, 50), max_size=5)),
    st.lists(_json_scalar, max_size=3),
    _json_scalar,
)
_bad_line = st.one_of(
    _bad_record.map(json.dumps),
    st.text(_text_char, min_size=1, max_size=40).filter(lambda t: t.strip() and not _parses(t)),
    _valid_chat.map(lambda r: json.dumps(r)[:-1]),  # a record cut short
)


@pytest.fixture(scope="module")
def tokenizer(assets: ReliabilityAssets) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(assets.model_path))


def _assert_rejected(path: Path, tokenizer: Any, cache: Path, where: str) -> str:
    with pytest.raises(DataError) as failure:
        tokenize_dataset(path, tokenizer, max_seq_len=128, cache_dir=cache)
    message = str(failure.value)
    assert where in message, message
    assert not cache.exists() or not any(cache.iterdir())  # no cache entry, not even a part
    return message


@FUZZ
@given(
    before=st.lists(_valid_chat, min_size=1, max_size=4),
    bad=_bad_line,
    after=st.lists(_valid_chat, max_size=3),
)
def test_fuzzed_malformed_jsonl_record_names_file_and_line(
    tokenizer: Any, tmp_path_factory: pytest.TempPathFactory,
    before: list[dict[str, Any]], bad: str, after: list[dict[str, Any]],
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "train.jsonl"
    lines = [json.dumps(r) for r in before] + [bad] + [json.dumps(r) for r in after]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_rejected(path, tokenizer, folder / "cache", f"{path}:{len(before) + 1}")


@FUZZ
@given(first=_bad_line, rest=st.lists(_valid_chat, max_size=2))
def test_fuzzed_malformed_first_record_names_line_1(
    tokenizer: Any, tmp_path_factory: pytest.TempPathFactory,
    first: str, rest: list[dict[str, Any]],
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "train.jsonl"
    # A first record of another format sets the format; then the chat lines are the bad ones.
    assume(not _parses(first) or not isinstance(json.loads(first), dict)
           or not ({"document", "input_ids"} & set(json.loads(first))))
    path.write_text("\n".join([first, *map(json.dumps, rest)]) + "\n", encoding="utf-8")
    _assert_rejected(path, tokenizer, folder / "cache", f"{path}:1")


@FUZZ
@given(
    records=st.lists(_valid_chat, min_size=1, max_size=4),
    bad=_bad_record,
    position=st.integers(0, 4),
)
def test_fuzzed_malformed_json_list_names_the_record_index(
    tokenizer: Any, tmp_path_factory: pytest.TempPathFactory,
    records: list[Any], bad: Any, position: int,
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "train.json"
    index = min(position, len(records))
    # A bad *first* record of another format decides the format for the whole file.
    assume(index > 0 or not (isinstance(bad, dict) and {"document", "input_ids"} & set(bad)))
    records.insert(index, bad)
    path.write_text(json.dumps(records), encoding="utf-8")
    where = f"{path} record {index}" if index else f"{path} record "
    _assert_rejected(path, tokenizer, folder / "cache", where)


# --- inputs that once escaped as raw exceptions (fixed) ----------------------------------



@FUZZ
@given(
    prefix=st.binary(max_size=8).filter(lambda b: b"\n" not in b and b"\r" not in b),
    junk=st.sampled_from([b"\xff", b"\xfe\xfe", b"\xc3\x28", b"\xe2\x82", b"\x80abc"]),
)
def test_fuzzed_invalid_utf8_line_is_a_data_error(
    tokenizer: Any, tmp_path_factory: pytest.TempPathFactory, prefix: bytes, junk: bytes
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "train.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": "yes"}]}).encode()
    path.write_bytes(good + b"\n" + prefix + junk + b"\n")
    _assert_rejected(path, tokenizer, folder / "cache", f"{path}:2")


_GOOD_LINE = json.dumps({"messages": [{"role": "user", "content": "hi"},
                                      {"role": "assistant", "content": "yes"}]})


@pytest.mark.parametrize(
    "second_line",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="nested-too-deep"),
        pytest.param('{"input_ids": [1' + "0" * 5000 + "]}", id="integer-with-5000-digits"),
        pytest.param(
            '{"messages": [{"role": "user", "content": "hi \\ud800"}, '
            '{"role": "assistant", "content": "yes"}]}',
            id="unpaired-surrogate-escape",
        ),
        pytest.param("\ufeff" + _GOOD_LINE, id="byte-order-mark-mid-file"),
    ],
)
def test_hard_cases_are_data_errors_naming_the_line(
    tokenizer: Any, tmp_path: Path, second_line: str
) -> None:
    path = tmp_path / "train.jsonl"
    text = _GOOD_LINE + "\n" + second_line + "\n"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _assert_rejected(path, tokenizer, tmp_path / "cache", f"{path}:2")


def test_data_without_any_loss_token_is_a_data_error(tokenizer: Any, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    message = _assert_rejected(path, tokenizer, tmp_path / "cache", str(path))
    assert "No token of" in message and "set unmask=true" in message


# --- the same through `th train sft` -----------------------------------------------------


@FUZZ
@given(bad=_bad_line, dry_run=st.booleans())
def test_fuzzed_bad_record_through_th_exits_2_and_writes_nothing(
    assets: ReliabilityAssets, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str], bad: str, dry_run: bool,
) -> None:
    folder = tmp_path_factory.mktemp("cli-fuzz")
    data = folder / "train.jsonl"
    data.write_text(_GOOD_LINE + "\n" + bad + "\n", encoding="utf-8")
    output = folder / "out"
    settings_ = run_settings(assets, output, data_path=str(data), data_cache_dir=str(folder / "c"),
                             max_steps=1)
    args = ["train", "sft", *cli_args(settings_), *(["--dry-run"] if dry_run else [])]
    code, err = th_in_process(capsys, *args)
    assert code == 2, err
    assert err.startswith("th: error: ") and f"{data}:2" in err
    assert "Traceback" not in err and "unexpected error" not in err
    # A real run creates the (empty) output folder before it reads the data; nothing is in it.
    assert not output.exists() or not any(output.iterdir())


# --- junk command-line values ------------------------------------------------------------

_NUMBERISH = re.compile(r"\s*[-+]?[0-9_.eE+-]*\s*")
_NONE_WORDS = {"none", "null"}
_INT_FLAGS = ["num_epochs", "max_steps", "effective_batch_size", "max_tokens_per_gpu",
              "max_seq_len", "warmup_steps", "save_every", "keep_last_n", "logging_steps",
              "nproc_per_node", "master_port", "seed", "num_threads", "data_workers"]
_FLOAT_FLAGS = ["learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_eps",
                "max_grad_norm"]
_LITERAL_FLAGS = {name: TrainingParams.model_fields[name].annotation.__args__  # type: ignore[union-attr]
                  for name in ("dtype", "device", "on_nonfinite")}  # the others are registry names
_junk = st.text(_text_char, max_size=12).filter(
    lambda s: not _NUMBERISH.fullmatch(s)
    and s.strip().lower() not in _NONE_WORDS | {"inf", "infinity", "+inf", "+infinity"}
)
_out_of_range = {"num_epochs": "0", "effective_batch_size": "-8", "max_tokens_per_gpu": "8",
                 "master_port": "70000", "learning_rate": "0", "adam_beta1": "1",
                 "max_grad_norm": "-1", "logging_steps": "0"}


def _dry_run_args(assets: ReliabilityAssets, folder: Path) -> list[str]:
    return ["train", "sft", "--dry-run", *cli_args(run_settings(assets, folder / "out"))]


@FUZZ
@given(flag=st.sampled_from(_INT_FLAGS + _FLOAT_FLAGS + list(_LITERAL_FLAGS)), junk=_junk)
def test_fuzzed_junk_flag_values_exit_2_naming_the_parameter(
    assets: ReliabilityAssets, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str], flag: str, junk: str,
) -> None:
    assume(junk not in _LITERAL_FLAGS.get(flag, ()))
    # Junk that spells th train's own options (-b/--backend, -c/--config, -h/--help, or any
    # --long) is parsed as that option by click, which reports (or serves) it itself.
    assume(not junk.startswith(("-b", "-c", "-h", "--")))
    folder = tmp_path_factory.mktemp("flags")
    # The junk comes last: a repeated flag is an error of its own, so drop the earlier one.
    base = _dry_run_args(assets, folder)
    option = "--" + flag.replace("_", "-")
    if option in base:
        at = base.index(option)
        del base[at : at + 2]
    code, err = th_in_process(capsys, *base, option, junk)
    assert code == 2, err
    assert f"parameter '{flag}'" in err, err
    assert "Traceback" not in err
    assert not (folder / "out").exists()


@pytest.mark.parametrize(("flag", "value"), sorted(_out_of_range.items()))
def test_out_of_range_flag_values_exit_2(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    flag: str, value: str,
) -> None:
    base = _dry_run_args(assets, tmp_path)
    option = "--" + flag.replace("_", "-")
    if option in base:
        at = base.index(option)
        del base[at : at + 2]
    code, err = th_in_process(capsys, *base, option, value)
    assert code == 2 and f"parameter '{flag}'" in err, err


@pytest.mark.parametrize("value", ["inf", "1e400"])
def test_infinite_learning_rate_is_refused(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    base = _dry_run_args(assets, tmp_path)
    at = base.index("--learning-rate")
    del base[at : at + 2]
    code, err = th_in_process(capsys, *base, "--learning-rate", value)
    assert code == 2 and "parameter 'learning_rate'" in err, err


_REAL_OPTIONS = {"--" + n.replace("_", "-") for n in TrainingParams.model_fields} | {
    "--no-" + n.replace("_", "-") for n in TrainingParams.model_fields} | {
    "--dry-run", "--demo", "--config", "--backend", "--help", "--debug", "--version"}


@FUZZ
@given(name=st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True))
def test_fuzzed_unknown_flags_exit_2(
    assets: ReliabilityAssets, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str], name: str,
) -> None:
    option = "--" + name
    assume(option.replace("_", "-") not in _REAL_OPTIONS)
    folder = tmp_path_factory.mktemp("flags")
    code, err = th_in_process(capsys, *_dry_run_args(assets, folder), option, "1")
    assert code == 2, err
    assert f"Unknown option '{option}'" in err or "No such option" in err, err
    assert "Traceback" not in err
