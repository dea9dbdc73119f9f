"""Broken model folders and data that does not fit the model: a specific message with a fix.

Each case runs ``th train sft`` in this process and checks the exit code and
the key phrases of the one-paragraph error: what is wrong, where, what to do.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer

from ._reliability_helpers import ReliabilityAssets, cli_args, run_settings, th_in_process


def _copy_model(assets: ReliabilityAssets, target: Path) -> Path:
    shutil.copytree(assets.model_path, target)
    return target


def _train(
    capsys: pytest.CaptureFixture[str],
    assets: ReliabilityAssets,
    tmp_path: Path,
    **overrides: object,
) -> tuple[int, str]:
    settings = run_settings(assets, tmp_path / "out", max_steps=1, **overrides)
    code, err = th_in_process(capsys, "train", "sft", *cli_args(settings))
    assert "Traceback" not in err
    return code, err


def test_model_folder_without_config_json(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _copy_model(assets, tmp_path / "model")
    (model / "config.json").unlink()
    code, err = _train(capsys, assets, tmp_path, model_path=str(model))
    assert code == 2
    assert f"th: error: model_path '{model}' has no config.json" in err
    assert "Point model_path to a Hugging Face model folder" in err


def test_model_folder_without_weights(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _copy_model(assets, tmp_path / "model")
    (model / "model.safetensors").unlink()
    code, err = _train(capsys, assets, tmp_path, model_path=str(model))
    assert code == 2
    assert f"model_path '{model}'" in err and "no file named model.safetensors" in err
    assert "Point model_path to a Hugging Face model folder" in err


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_weights_file(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    model = _copy_model(assets, tmp_path / "model")
    weights = model / "model.safetensors"
    content = weights.read_bytes()
    weights.write_bytes(content[:1000] if damage == "truncated" else b"\x00garbage" * 64)
    code, err = _train(capsys, assets, tmp_path, model_path=str(model))
    assert code == 2, err
    assert f"model_path '{model}'" in err and "weights" in err


def test_config_vocab_smaller_than_the_tokenizer(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    tokenizer = make_tiny_tokenizer(model)
    make_tiny_model(model, tokenizer, vocab_size=20)
    code, err = _train(capsys, assets, tmp_path, model_path=str(model))
    assert code == 2, err
    assert "vocab_size" in err and "20" in err and str(len(tokenizer)) in err
    assert "tokenizer" in err


def test_missing_tokenizer_folder(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-tokenizer"
    code, err = _train(capsys, assets, tmp_path, tokenizer_path=str(missing))
    assert code == 2
    assert f"Cannot load the tokenizer from '{missing}' (tokenizer_path/model_path)" in err
    assert "Point it to a Hugging Face folder with tokenizer files" in err


def test_tokenizer_without_chat_template_on_chat_data(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _copy_model(assets, tmp_path / "model")
    (model / "chat_template.jinja").unlink(missing_ok=True)
    config_file = model / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config.pop("chat_template", None)
    config_file.write_text(json.dumps(config))
    code, err = _train(capsys, assets, tmp_path, model_path=str(model), dry_run=True)
    assert code == 2
    assert f"th: error: {assets.data_path}:1: the tokenizer's chat template cannot render" in err
    assert "chat_template is not set" in err
    assert not (tmp_path / "out").exists()


def test_samples_longer_than_max_seq_len(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _train(capsys, assets, tmp_path, max_seq_len=16, max_tokens_per_gpu=64)
    assert code == 2
    assert "sample(s) are longer than max_seq_len=16 tokens, e.g. " in err
    assert f"{assets.data_path}:" in err and " tokens)" in err
    assert "Raise max_seq_len, shorten these samples, or set truncate=true" in err
    assert not (tmp_path / "out" / "metrics.jsonl").exists()
