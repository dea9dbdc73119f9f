"""Benchmark 4, SFT and OSFT on one GPU: the native engine against TRL's SFTTrainer, bf16.

A ~1.1B-parameter Llama (TinyLlama shape: hidden 2048, 22 layers, GQA 32/4 heads,
vocab 32000) built from config with random weights; variable-length pre-tokenized
samples (256..4096 tokens, loss on the second half of each), the same for every
run; bf16 compute on fp32 master weights; 16 samples per optimizer step.

* Throughput: tokens/s over the steps after the warm-up.
* MFU: model FLOPs per second over the bf16 ``torch.mm`` rate measured in this run
  (and over the card's nominal dense bf16 peak). Model FLOPs per sample of ``n``
  tokens: ``6 * params * n + 12 * layers * width * n**2`` (the usual convention:
  every position's LM head and the full attention square counted).
* TRL: its best configuration on this GPU, the faster of ``padding_free=True``
  (no packing) and plain padded batches of 4; flash-attn when installed, else SDPA.
* OSFT: the ``osft`` algorithm on the same model, data and batch (rank ratio 0.25);
  its step time and peak memory against native SFT.
* Last, reported only: the native engine with ``torch_compile=True``.

Without a CUDA device the script records that it was not run.
"""

from __future__ import annotations

import json
import subprocess
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

__all__ = ["MODEL_CONFIG", "TRL_CONFIGS", "main"]

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
UNFREEZE_RANK_RATIO = 0.25
#: Name of the run of the native engine with ``torch_compile=True`` (reported only).
COMPILED = "native torch_compile"
#: TRL configurations tried; the fastest is the reference.
TRL_CONFIGS = {"padded": {"padding_free": False}, "padding-free": {"padding_free": True}}
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
    """Say why nothing ran; a result of an earlier GPU run stays (a CPU machine running the
    whole suite must not replace the committed GPU figures)."""
    earlier = RESULTS_DIR / "gpu_sft.json"
    if earlier.is_file():
        measured = json.loads(earlier.read_text())
        if any(row.get("value") is not None for row in measured.get("rows", [])):
            date = measured.get("environment", {}).get("date", "?")
            progress(f"not run ({reason}); kept the GPU result of {date} in "
                     "benchmarks/results/gpu_sft.json")
            return
    write_result(Result(
        name="gpu_sft", title="4. SFT and OSFT on GPU",
        command=reproduce_command("gpu_sft", args.quick),
        rows=[Row("native sft throughput (bf16, ~1.1B Llama, seq 4096)", None, "tokens/s",
                  "TRL SFTTrainer, best configuration", None, None, ">= 1.3x TRL", None,
                  note=f"not run: {reason}")],
        notes=[f"Not run: {reason}. Run `python benchmarks/run_all.py --only gpu_sft` on a "
               "machine with one CUDA GPU."],
        quick=args.quick,
    ))


def _attempt(name: str, argv: list[str], env: dict[str, str], failures: dict[str, str],
             timeout: float) -> TrainRun | None:
    """One worker run; a failure is recorded (and reported) instead of ending the benchmark."""
    try:
        run = TrainRun.from_dict(run_worker(argv, env, timeout=timeout,
                                            log=RESULTS_DIR / "logs" / f"gpu_sft-{name}.log"))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        failures[name] = str(exc)[-800:]
        progress(f"{name} FAILED: {str(exc)[-300:]}")
        return None
    progress(f"{name} done")
    return run


def _step_seconds(run: TrainRun) -> float:
    steps = len(run.seconds) - WARMUP_STEPS
    return (run.seconds[-1] - run.seconds[WARMUP_STEPS - 1]) / steps


def main() -> None:
    args = bench_arguments(__doc__ or "")
    import torch

    if not torch.cuda.is_available():
        _not_run(args, "no CUDA device in this session")
        return
    steps = 8 if args.quick else 12
    device_name = torch.cuda.get_device_name()
    mm_tflops = _bf16_mm_tflops()
    progress(f"{device_name}: bf16 mm {mm_tflops:.0f} TFLOP/s")
    env = child_env()
    runs: dict[str, TrainRun | None] = {}
    failures: dict[str, str] = {}

    def report() -> None:
        """Write the result file from the runs so far (after every run, so that a run
        cut off by a time limit keeps what was measured)."""
        flops_per_token = float(train_flops(lengths, shape) / lengths.sum())
        throughput = {name: steady_throughput(run, WARMUP_STEPS)[0]
                      for name, run in runs.items() if run is not None}
        trl_names = [name for name in throughput if name.startswith("trl")]
        best_trl = max(trl_names, key=lambda name: throughput[name]) if trl_names else None
        nominal = next((v for k, v in NOMINAL_BF16_TFLOPS.items() if k in device_name), None)

        def mfu(tokens_per_second: float, peak_tflops: float) -> float:
            return tokens_per_second * flops_per_token / (peak_tflops * 1e12) * 100

        def gpu_mb(name: str) -> float | None:
            run = runs.get(name)
            return run.extra.get("peak_gpu_mb") if run is not None else None

        native_tps = throughput.get("native")
        trl_tps = throughput.get(best_trl) if best_trl else None
        ratio = native_tps / trl_tps if native_tps and trl_tps else None
        rows = [
            Row("native sft throughput (bf16, ~1.1B Llama, seq <= 4096)", native_tps, "tokens/s",
                f"TRL SFTTrainer, best configuration ({best_trl or 'failed'})", trl_tps, ratio,
                ">= 1.3x TRL", ratio >= 1.3 if ratio else None,
                note="; ".join(f"{n}: {t:.0f} tokens/s" for n, t in throughput.items())),
        ]
        if native_tps:
            native_mfu = mfu(native_tps, mm_tflops)
            rows.append(Row(
                "native sft model FLOPs utilisation", native_mfu, "%",
                "bf16 torch.mm rate, this run", mm_tflops, None, ">= 45%", native_mfu >= 45,
                note=(f"{mfu(native_tps, nominal):.1f}% of the nominal {nominal:.0f} TFLOP/s; "
                      if nominal else "")
                + (f"TRL ({best_trl}): {mfu(trl_tps, mm_tflops):.1f}% of the mm rate" if trl_tps
                   else ""),
                reference_unit="TFLOP/s"))
        compiled_tps = throughput.get(COMPILED)
        if compiled_tps and native_tps:
            rows.append(Row(
                "native sft throughput with torch_compile=True", compiled_tps, "tokens/s",
                "native sft, eager (the default)", native_tps, compiled_tps / native_tps,
                "reported", None,
                note=f"{mfu(compiled_tps, mm_tflops):.1f}% of the mm rate"))
        native_mb, trl_mb = gpu_mb("native"), gpu_mb(best_trl) if best_trl else None
        rows.append(Row(
            "native sft peak GPU memory", native_mb, "MiB", f"TRL peak GPU memory ({best_trl})",
            trl_mb, native_mb / trl_mb if native_mb and trl_mb else None, "<= 1x TRL",
            native_mb <= trl_mb if native_mb and trl_mb else None))
        if runs.get("native") and runs.get("osft"):
            native_run, osft_run = runs["native"], runs["osft"]
            assert native_run is not None and osft_run is not None
            step_ratio = _step_seconds(osft_run) / _step_seconds(native_run)
            osft_mb = gpu_mb("osft")
            rows += [
                Row("OSFT step time (GPU)", _step_seconds(osft_run), "s", "SFT step time",
                    _step_seconds(native_run), step_ratio, "<= 1.3x", step_ratio <= 1.3),
                Row("OSFT peak GPU memory", osft_mb, "MiB", "SFT peak GPU memory", native_mb,
                    osft_mb / native_mb if osft_mb and native_mb else None, "<= 1.5x",
                    osft_mb / native_mb <= 1.5 if osft_mb and native_mb else None),
            ]
        notes = [
            f"{device_name}; {shape.parameters / 1e9:.2f}B parameters; {steps} steps of "
            f"{BATCH_SIZE} samples ({int(lengths.min())}..{int(lengths.max())} tokens, "
            f"{int(lengths.sum())} in all); {flops_per_token / 1e9:.2f} GFLOP per token; "
            f"throughput over steps {WARMUP_STEPS + 1}..{steps}.",
            "Native engine: packed micro-batches of up to "
            f"{4 * SEQ_LEN} tokens, bf16 autocast on fp32 weights, "
            f"attention {'flash-attn' if _has('flash_attn') else 'torch varlen flash'}, "
            f"loss {'Liger fused' if _has('liger_kernel') else 'chunked, on loss tokens only'}.",
            f"TRL attention: {'flash_attention_2' if _has('flash_attn') else 'sdpa'}.",
        ]
        notes += [f"{name} failed: {message}" for name, message in failures.items()]
        write_result(Result(
            name="gpu_sft", title="4. SFT and OSFT on GPU",
            command=reproduce_command("gpu_sft", args.quick), rows=rows, notes=notes,
            quick=args.quick,
            details={"device": device_name, "mm_tflops": mm_tflops,
                     "flops_per_token": flops_per_token, "throughput": throughput,
                     "step_seconds": {n: _step_seconds(r) for n, r in runs.items() if r},
                     "peak_gpu_mb": {n: r.extra.get("peak_gpu_mb") for n, r in runs.items() if r},
                     "losses": {n: r.losses for n, r in runs.items() if r}, "failures": failures},
        ))

    worker = str(BENCH_DIR / "workers")
    with tempfile.TemporaryDirectory(prefix="th-bench-gpu-") as tmp:
        work = Path(tmp)
        model = _build_model(work / "model")
        data = work / "train.jsonl"
        lengths = _write_data(data, steps * BATCH_SIZE, vocab_limit=3900)
        shape = model_shape(model)
        progress("model and data written")
        native = {
            "model_path": str(model), "data_path": str(data), "ckpt_output_dir": str(work / "n"),
            "num_epochs": 1, "effective_batch_size": BATCH_SIZE,
            "max_tokens_per_gpu": 4 * SEQ_LEN, "max_seq_len": SEQ_LEN,
            "learning_rate": LEARNING_RATE, "lr_scheduler": "constant", "adam_beta2": 0.95,
            "seed": 42, "dtype": "bf16", "device": "cuda", "data_cache_dir": str(work / "c"),
            "checkpoint_at_epoch": False, "save_final_checkpoint": False,
            "logging_steps": 1, "tensorboard": False, "quiet": True, "overwrite": True,
        }
        runs["native"] = _attempt("native", [sys.executable, f"{worker}/native_sft.py",
                                             json.dumps({"params": native})], env, failures, 150)
        report()
        osft = {"algorithm": "osft", "params": {**native, "ckpt_output_dir": str(work / "o"),
                                                "unfreeze_rank_ratio": UNFREEZE_RANK_RATIO}}
        runs["osft"] = _attempt("osft", [sys.executable, f"{worker}/native_sft.py",
                                         json.dumps(osft)], env, failures, 150)
        report()
        for name, config in TRL_CONFIGS.items():
            spec = {"model_path": str(model), "data_path": str(data), "threads": 8,
                    "output_dir": str(work / f"t-{name}"), "batch_size": 4,
                    "gradient_accumulation_steps": BATCH_SIZE // 4, "device": "cuda",
                    "learning_rate": LEARNING_RATE, "seed": 42, **config}
            runs[f"trl {name}"] = _attempt(f"trl-{name}", [sys.executable, f"{worker}/trl_sft.py",
                                                           json.dumps(spec)], env, failures, 150)
            report()
        # Last, and reported only: whether compiling the decoder layers pays on this GPU.
        compiled = {**native, "ckpt_output_dir": str(work / "nc"), "torch_compile": True}
        runs[COMPILED] = _attempt("native-compiled", [sys.executable, f"{worker}/native_sft.py",
                                                      json.dumps({"params": compiled})],
                                  env, failures, 240)
        report()


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
