"""What the training benchmarks share: the tiny model, the data, FLOP counts and the matmul rate.

The model is the one the benchmark issue names: Llama-shaped, about 7M parameters,
vocab 8k (the embedded demo config with ``vocab_size=8192`` and 6 layers, 6.8M
parameters), weights from a fixed seed, and the demo tokenizer. The data are the demo chat samples
tokenized once by the native pipeline (assistant-only labels) and written as
pre-tokenized JSONL (``input_ids`` plus unshifted ``labels``), so that every system
trains on exactly the same tokens and loss masks.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ModelShape",
    "TrainRun",
    "matmul_gflops",
    "model_shape",
    "prepare_model",
    "prepare_tokenized_data",
    "steady_throughput",
    "train_flops",
]


@dataclass(frozen=True)
class ModelShape:
    """The numbers the FLOP formula needs."""

    parameters: int
    layers: int
    attention_width: int  # heads * head_dim


BENCH_VOCAB_SIZE = 8192
BENCH_LAYERS = 6


def prepare_model(folder: Path) -> Path:
    """The benchmark model (weights from seed 0) with the demo tokenizer, saved into ``folder``."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from training_hub.demo import demo_dir

    if (folder / "model.safetensors").is_file():
        return folder
    config = LlamaConfig.from_pretrained(demo_dir())
    config.vocab_size = BENCH_VOCAB_SIZE
    config.num_hidden_layers = BENCH_LAYERS
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(demo_dir()).save_pretrained(folder)
    return folder


def model_shape(model_dir: Path) -> ModelShape:
    """Parameter count (tied embeddings counted once) and attention shape from the config."""
    config = json.loads((model_dir / "config.json").read_text())
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or hidden // heads
    layers, vocab = config["num_hidden_layers"], config["vocab_size"]
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)
    per_layer = attention + 3 * hidden * inter + 2 * hidden
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings") else 2)
    return ModelShape(layers * per_layer + embeddings + hidden, layers, heads * head_dim)


def train_flops(lengths: np.ndarray, shape: ModelShape) -> float:
    """Model FLOPs of one forward+backward pass over samples of ``lengths`` tokens.

    ``6 * parameters * tokens`` plus attention scores and values, ``12 * layers *
    width * len**2`` per sample (the usual convention: the causal half is not
    subtracted, every position's LM head counted).
    """
    lengths = lengths.astype(np.float64)
    dense = 6.0 * shape.parameters * lengths.sum()
    attention = 12.0 * shape.layers * shape.attention_width * float((lengths**2).sum())
    return dense + attention


def prepare_tokenized_data(
    model_dir: Path, out_path: Path, num_samples: int, seed: int = 0
) -> np.ndarray:
    """Write ``num_samples`` demo chat samples (random, without repeats) as tokenized JSONL.

    Returns the token count of each written sample.
    """
    from transformers import AutoTokenizer

    from training_hub.demo import demo_data_path
    from training_hub.engine.data import tokenize_dataset

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dataset = tokenize_dataset(demo_data_path(), tokenizer, max_seq_len=1024,
                               cache_dir=out_path.parent / "token-cache", workers=1)
    if num_samples > len(dataset):
        raise ValueError(f"the demo data hold {len(dataset)} samples, {num_samples} asked for")
    chosen = np.random.default_rng(seed).permutation(len(dataset))[:num_samples]
    lengths = []
    with out_path.open("w") as handle:
        for index in chosen:
            ids, shifted = dataset.sample(int(index))
            labels = np.full(len(ids), -100, dtype=np.int64)
            labels[1:] = shifted[:-1]  # back to the Hugging Face convention (unshifted)
            handle.write(json.dumps({"input_ids": ids.tolist(), "labels": labels.tolist()}))
            handle.write("\n")
            lengths.append(len(ids))
    return np.asarray(lengths)


def matmul_gflops(threads: int, sizes: tuple[int, ...] = (512, 1024, 2048)) -> float:
    """The best fp32 ``torch.mm`` rate (GFLOP/s) over ``sizes`` on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    best = 0.0
    for size in sizes:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch.mm(a, b)  # warm-up
        repeats = max(3, int(2e10 / (2 * size**3)))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
        best = max(best, 2 * size**3 / min(times) / 1e9)
    return best


@dataclass
class TrainRun:
    """Per-step record of one training run: cumulative tokens and time, and the loss."""

    tokens: list[int]  # cumulative tokens after each step
    seconds: list[float]  # cumulative seconds after each step (from the same clock)
    losses: list[float]
    peak_rss_mb: float
    extra: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainRun:
        extra = {**data.get("extra", {}),
                 "load_average_1m_at_end": data.get("load_average_1m_at_end")}
        return cls(data["tokens"], data["seconds"], data["losses"], data["peak_rss_mb"], extra)


def steady_throughput(run: TrainRun, warmup_steps: int) -> tuple[float, float, int]:
    """(tokens/s, seconds, tokens) over the steps after the first ``warmup_steps``."""
    tokens = run.tokens[-1] - run.tokens[warmup_steps - 1]
    seconds = run.seconds[-1] - run.seconds[warmup_steps - 1]
    return tokens / seconds, seconds, tokens
