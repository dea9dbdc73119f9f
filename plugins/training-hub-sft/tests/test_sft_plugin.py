"""training-hub-sft end to end: the installed distribution trains a tiny model for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import training_hub
from training_hub import AlgorithmRegistry, create_algorithm
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("sft")
    tokenizer = make_tiny_tokenizer(folder / "model")
    make_tiny_model(folder / "model", tokenizer)
    write_chat_jsonl(folder / "chat.jsonl", 64)
    return {"model_path": str(folder / "model"), "data_path": str(folder / "chat.jsonl"),
            "data_cache_dir": str(folder / "cache")}


def _options(**extra: object) -> dict[str, object]:
    return {"effective_batch_size": 8, "max_tokens_per_gpu": 512, "max_seq_len": 128,
            "learning_rate": 3e-3, "lr_scheduler": "constant", "quiet": True,
            "tensorboard": False, "device": "cpu", "num_threads": 1, **extra}


def test_registered_with_native_default_backend() -> None:
    AlgorithmRegistry.reset()
    entry = AlgorithmRegistry.algorithm_entry("sft")
    assert entry.origin.distribution == "training-hub-sft"
    assert entry.default_backend == "native"
    assert AlgorithmRegistry.list_backends("sft")[0] == "native"
    assert type(create_algorithm("sft").backend).__name__ == "NativeSFTBackend"


def test_sft_function_trains_and_saves_a_loadable_checkpoint(
    assets: dict[str, str], tmp_path: Path
) -> None:
    result = training_hub.sft(**assets, ckpt_output_dir=str(tmp_path / "out"),
                              **_options(max_steps=12))
    losses = [json.loads(line)["loss"]
              for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses
    assert result.steps == 12 and result.final_loss == pytest.approx(losses[-1])

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(result.last_checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(result.last_checkpoint)
    ids = tokenizer("hello", return_tensors="pt").input_ids
    generated = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 3


def test_unknown_parameter_is_an_error_naming_the_closest(assets: dict[str, str]) -> None:
    with pytest.raises(training_hub.ParameterError, match="'learning_rate'"):
        training_hub.sft(**assets, ckpt_output_dir="x", learning_rte=1.0)


def test_th_train_dry_run_reports_data_statistics(assets: dict[str, str], tmp_path: Path) -> None:
    th = Path(sys.executable).parent / "th"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in assets.items()]
    done = subprocess.run(
        [str(th), "train", "sft", *flags, "--ckpt-output-dir", str(tmp_path / "o"),
         "--max-seq-len", "128", "--max-tokens-per-gpu", "512", "--dry-run"],
        capture_output=True, text=True, timeout=300, env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    assert '"num_samples": 64' in done.stdout
    assert not (tmp_path / "o").exists(), "a dry run must write nothing"
