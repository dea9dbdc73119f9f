"""Benchmark 4, SFT on one GPU: the native ``sft`` engine against TRL's SFTTrainer, bf16.

A ~1.1B-parameter Llama (TinyLlama shape: hidden 2048, 22 layers, GQA 32/4 heads,
vocab 32000) built from config with random weights; variable-length pre-tokenized
samples (256..4096 tokens, loss on the second half of each), the same for both
systems; bf16; sequences up to 4096 tokens. Throughput over the steps after the
warm-up; MFU = model FLOPs per second (``6 * params * tokens`` + attention) over
the bf16 ``torch.mm`` rate measured in this run (and over the card's nominal dense
bf16 peak when known). TRL runs its fastest configuration: padding_free without
packing, flash-attn when installed, bf16. Without a CUDA device the script
records that it was not run.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    BENCH_DIR,
    RESULTS_DIR,
    Result,
    Row,
    bench_arguments,
    child_env,
    progress,
    reproduce_command,
    run_worker,
    write_result,
)
from _sft_common import TrainRun, model_shape, steady_throughput, train_flops

__all__ = ["MODEL_CONFIG", "main"]

MODEL_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
    "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
    "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 64,
    "hidden_act": "silu", "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0, "tie_word_embeddings": False, "use_cache": False,
    "pad_token_id": 0, "eos_token_id": 2, "bos_token_id": None, "initializer_range": 0.02,
}
SEQ_LEN = 4096
BATCH_SIZE = 16  # samples per optimizer step
WARMUP_STEPS = 3
LEARNING_RATE = 1e-4
#: Dense bf16 peak (TFLOP/s) of known cards, for a second MFU figure.
NOMINAL_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def _build_model(folder: Path) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from training_hub.demo import demo_dir

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(MODEL_CONFIG))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder),
                                             dtype=torch.float32)
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).write_bytes((demo_dir() / name).read_bytes())
    return folder


def _write_data(path: Path, count: int, vocab_limit: int) -> np.ndarray:
    """Random token samples (ids below the tokenizer's size), loss on their second half."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(256, SEQ_LEN + 1, size=count)
    with path.open("w") as handle:
        for length in lengths:
            ids = rng.integers(10, vocab_limit, size=int(length)).tolist()
            labels = [-100] * (int(length) // 2) + ids[int(length) // 2:]
            handle.write(json.dumps({"input_ids": ids, "labels": labels}) + "\n")
    return lengths


def _bf16_mm_tflops() -> float:
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        torch.mm(a, b)
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        torch.mm(a, b)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * 8192**3 / best / 1e12


def _not_run(args: Any, reason: str) -> None:
    write_result(Result(
        name="gpu_sft", title="4. SFT on GPU", command=reproduce_command("gpu_sft", args.quick),
        rows=[Row("native sft throughput (bf16, ~1.1B Llama, seq 4096)", None, "tokens/s",
                  "TRL SFTTrainer (padding_free, bf16)", None, None, ">= 2x TRL", None,
                  note=f"not run: {reason}"),
              Row("native sft model FLOPs utilisation", None, "%", "bf16 torch.mm rate",
                  None, None, "reported", None, note=f"not run: {reason}")],
        notes=[f"Not run: {reason}. Run `python benchmarks/run_all.py --only gpu_sft` on a "
               "machine with one CUDA GPU."],
        quick=args.quick,
    ))


def main() -> None:
    args = bench_arguments(__doc__ or "")
    import torch

    if not torch.cuda.is_available():
        _not_run(args, "no CUDA device in this session")
        return
    steps = 8 if args.quick else 20
    device_name = torch.cuda.get_device_name()
    mm_tflops = _bf16_mm_tflops()
    progress(f"{device_name}: bf16 mm {mm_tflops:.0f} TFLOP/s")
    env = child_env()
    runs: dict[str, TrainRun] = {}
    with tempfile.TemporaryDirectory(prefix="th-bench-gpu-") as tmp:
        work = Path(tmp)
        model = _build_model(work / "model")
        data = work / "train.jsonl"
        lengths = _write_data(data, steps * BATCH_SIZE, vocab_limit=3900)
        progress("model and data written")
        native_spec = {"params": {
            "model_path": str(model), "data_path": str(data), "ckpt_output_dir": str(work / "n"),
            "num_epochs": 1, "effective_batch_size": BATCH_SIZE,
            "max_tokens_per_gpu": 4 * SEQ_LEN, "max_seq_len": SEQ_LEN,
            "learning_rate": LEARNING_RATE, "lr_scheduler": "constant", "adam_beta2": 0.95,
            "seed": 42, "dtype": "bf16", "device": "cuda", "data_cache_dir": str(work / "c"),
            "checkpoint_at_epoch": False, "save_final_checkpoint": False,
            "logging_steps": 1, "tensorboard": False, "quiet": True, "overwrite": True,
        }}
        runs["native"] = TrainRun.from_dict(run_worker(
            [sys.executable, str(BENCH_DIR / "workers" / "native_sft.py"),
             json.dumps(native_spec)], env, timeout=1500,
            log=RESULTS_DIR / "logs" / "gpu_sft-native.log"))
        progress("native done")
        trl_spec = {"model_path": str(model), "data_path": str(data), "threads": 8,
                    "output_dir": str(work / "t"), "batch_size": 4,
                    "gradient_accumulation_steps": BATCH_SIZE // 4, "device": "cuda",
                    "learning_rate": LEARNING_RATE, "seed": 42}
        runs["trl"] = TrainRun.from_dict(run_worker(
            [sys.executable, str(BENCH_DIR / "workers" / "trl_sft.py"), json.dumps(trl_spec)],
            env, timeout=1500, log=RESULTS_DIR / "logs" / "gpu_sft-trl.log"))
        progress("TRL done")
        shape = model_shape(model)
    flops_per_token = float(train_flops(lengths, shape) / lengths.sum())
    native_tps = steady_throughput(runs["native"], WARMUP_STEPS)[0]
    trl_tps = steady_throughput(runs["trl"], WARMUP_STEPS)[0]
    native_mfu = native_tps * flops_per_token / (mm_tflops * 1e12)
    nominal = next((v for k, v in NOMINAL_BF16_TFLOPS.items() if k in device_name), None)
    nominal_note = (f"; {native_tps * flops_per_token / (nominal * 1e12) * 100:.1f}% of the "
                    f"nominal {nominal:.0f} TFLOP/s" if nominal else "")
    rows = [
        Row("native sft throughput (bf16, ~1.1B Llama, seq 4096)", native_tps, "tokens/s",
            "TRL SFTTrainer (padding_free, bf16)", trl_tps, native_tps / trl_tps, ">= 2x TRL",
            native_tps / trl_tps >= 2),
        Row("native sft model FLOPs utilisation", native_mfu * 100, "%",
            "bf16 torch.mm rate, this run", mm_tflops, None, "reported", None,
            note=f"TRL: {trl_tps * flops_per_token / (mm_tflops * 1e12) * 100:.1f}%"
            + nominal_note, reference_unit="TFLOP/s"),
        Row("native sft peak GPU memory", runs["native"].extra.get("peak_gpu_mb"), "MiB",
            "TRL peak GPU memory", runs["trl"].extra.get("peak_gpu_mb"), None, "reported",
            None),
    ]
    notes = [f"{device_name}; {shape.parameters / 1e9:.2f}B parameters; {steps} steps of "
             f"{BATCH_SIZE} samples ({int(lengths.min())}..{int(lengths.max())} tokens)."]
    write_result(Result(
        name="gpu_sft", title="4. SFT on GPU", command=reproduce_command("gpu_sft", args.quick),
        rows=rows, notes=notes, quick=args.quick,
        details={"device": device_name, "mm_tflops": mm_tflops,
                 "native_losses": runs["native"].losses, "trl_losses": runs["trl"].losses},
    ))


if __name__ == "__main__":
    main()
