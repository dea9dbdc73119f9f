"""Shared builders of the engine tests: a tiny model + data once per module, params per test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl
from training_hub.training_params import TrainingParams


@dataclass(frozen=True)
class TinyAssets:
    model_path: Path
    data_path: Path
    cache_dir: Path


def build_assets(folder: Path, *, samples: int = 48, **model_config: Any) -> TinyAssets:
    model_path = folder / "model"
    tokenizer = make_tiny_tokenizer(model_path)
    make_tiny_model(model_path, tokenizer, **model_config)
    data_path = write_chat_jsonl(folder / "chat.jsonl", samples)
    return TinyAssets(model_path, data_path, folder / "cache")


def tiny_params(assets: TinyAssets, output_dir: Path, **overrides: Any) -> TrainingParams:
    values: dict[str, Any] = {
        "model_path": str(assets.model_path),
        "data_path": str(assets.data_path),
        "ckpt_output_dir": str(output_dir),
        "data_cache_dir": str(assets.cache_dir),
        "effective_batch_size": 8,
        "max_tokens_per_gpu": 512,
        "max_seq_len": 128,
        "learning_rate": 1e-3,
        "lr_scheduler": "constant",
        "max_steps": 3,
        "quiet": True,
        "tensorboard": False,
        "device": "cpu",
        # One thread: on a shared 2-core machine, 2 torch threads ran 60x slower.
        "num_threads": 1,
    }
    values.update(overrides)
    return TrainingParams(**values)


def checkpoint_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    weights: dict[str, torch.Tensor] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        weights.update(load_file(str(file)))
    return weights


def max_weight_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def subprocess_env() -> dict[str, str]:
    """Environment for torchrun workers: this source tree importable, short timeouts."""
    import os

    import training_hub

    src = str(Path(training_hub.__file__).resolve().parents[1])
    tests_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (src, tests_root, os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "TRAINING_HUB_DIST_TIMEOUT_S": "60", "OMP_NUM_THREADS": "1"}


def dying_adapter(params: TrainingParams) -> Any:
    """Adapter factory for the worker: rank 1 dies abruptly after its first step."""
    import os

    from training_hub.engine import ModelAdapter

    class Dying(ModelAdapter):
        def after_optimizer_step(self, model: Any) -> None:
            if os.environ.get("RANK") == "1":
                os._exit(3)

    return Dying()
