"""Shared builders of the reliability tests: tiny assets, run settings, `th` subprocesses."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BASE_SETTINGS",
    "ReliabilityAssets",
    "build_assets",
    "checkpoint_done",
    "checkpoint_weights",
    "cli_args",
    "folder_digest",
    "metrics_rows",
    "run_params",
    "run_settings",
    "start_th",
    "subprocess_env",
    "th_command",
    "th_in_process",
    "wait_for",
]

#: Settings every run of these tests shares (tiny, CPU, fp32, deterministic threads).
BASE_SETTINGS: dict[str, Any] = {
    "effective_batch_size": 8,
    "max_tokens_per_gpu": 512,
    "max_seq_len": 128,
    "learning_rate": 1e-3,
    "lr_scheduler": "cosine",
    "warmup_steps": 2,
    "quiet": True,
    "tensorboard": False,
    "device": "cpu",
    "dtype": "fp32",
    "num_threads": 1,
    "seed": 7,
}


@dataclass(frozen=True)
class ReliabilityAssets:
    model_path: Path
    data_path: Path
    cache_dir: Path


def build_assets(folder: Path, *, samples: int = 48) -> ReliabilityAssets:
    """A 2-layer Llama with its word-level tokenizer and ``samples`` chat records."""
    from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl

    model_path = folder / "model"
    tokenizer = make_tiny_tokenizer(model_path)
    make_tiny_model(model_path, tokenizer)
    data_path = write_chat_jsonl(folder / "chat.jsonl", samples)
    return ReliabilityAssets(model_path, data_path, folder / "cache")


def run_settings(assets: ReliabilityAssets, output_dir: Path, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "model_path": str(assets.model_path),
        "data_path": str(assets.data_path),
        "ckpt_output_dir": str(output_dir),
        "data_cache_dir": str(assets.cache_dir),
        **BASE_SETTINGS,
    }
    values.update(overrides)
    return values


def run_params(assets: ReliabilityAssets, output_dir: Path, **overrides: Any) -> Any:
    """TrainingParams of an in-process run."""
    from training_hub.training_params import TrainingParams

    return TrainingParams(**run_settings(assets, output_dir, **overrides))


def cli_args(settings: dict[str, Any]) -> list[str]:
    """``--flag value`` arguments of ``th train sft`` for ``settings``."""
    args: list[str] = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + name.replace("_", "-"))
        elif value is None:
            args += [flag, "none"]
        else:
            args += [flag, str(value)]
    return args


def th_command(*args: str) -> list[str]:
    """The installed ``th`` console script (or the same entry point through ``python -c``)."""
    script = Path(sys.executable).parent / "th"
    if script.is_file():
        return [str(script), *args]
    entry = "import sys; from training_hub.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", entry, *args]


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TRAINING_HUB_DEBUG"}
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


def start_th(*args: str, **popen: Any) -> subprocess.Popen[str]:
    """Start ``th ARGS`` with stdout and stderr captured as text."""
    return subprocess.Popen(
        th_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        **popen,
    )


def wait_for(
    condition: Callable[[], bool],
    process: subprocess.Popen[str] | None = None,
    *,
    timeout_s: float = 180.0,
    poll_s: float = 0.02,
) -> None:
    """Poll ``condition``; fail (with the process's output) if it exits or time runs out first."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(
                f"process exited ({process.returncode}) before the condition held:\n{out}\n{err}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(poll_s)


def checkpoint_done(output_dir: Path, step: int) -> Callable[[], bool]:
    marker = output_dir / "checkpoints" / f"step-{step}" / "checkpoint.json"
    return marker.is_file


def metrics_rows(output_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(output_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def checkpoint_weights(folder: str | Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    weights: dict[str, Any] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        weights.update(load_file(str(file)))
    return weights


def folder_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path -> digest)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _drop_cli_log_handlers() -> None:
    # The CLI binds its log handler to the sys.stderr of its first call; under pytest's
    # capture that stream is closed by the next test, so every call starts clean.
    package_logger = logging.getLogger("training_hub")
    for handler in list(package_logger.handlers):
        package_logger.removeHandler(handler)
    package_logger.propagate = True


def th_in_process(capsys: Any, *args: str) -> tuple[int, str]:
    """``th ARGS`` through ``training_hub.cli.main`` in this process: (exit code, stderr)."""
    from training_hub.cli import main

    _drop_cli_log_handlers()
    try:
        code = main(list(args))
    finally:
        _drop_cli_log_handlers()
    return code, capsys.readouterr().err
