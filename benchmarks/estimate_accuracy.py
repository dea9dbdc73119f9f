"""Benchmark 9: how right ``estimate`` is: predicted against measured peak memory and time.

Memory: for each case a model is built from a config (no download), trained for a
few steps by the native engine in a fresh process (``training_hub.engine.measure_memory``),
and its measured peak (RSS growth on CPU) is compared with
``estimate(..., device="cpu")``. Every micro-batch holds exactly ``tokens`` loss
tokens (pre-tokenized samples of that length), the case the estimate describes.
Target: within 20% on CPU (10% on GPU, measured with max_memory_allocated when a
GPU is present).

Time: ``th estimate sft --demo --json`` predicts the demo's training time from a
calibration run in a fresh process; ``th train sft --demo`` then trains it and the
ratio predicted/measured is taken against the last ``elapsed_s`` of its metrics.jsonl
(the training loop's wall time, checkpoints before the last step included; the
prediction less its final checkpoint, written after that). Target: within 15%.

    python benchmarks/estimate_accuracy.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Result,
    Row,
    bench_arguments,
    child_env,
    progress,
    reproduce_command,
    write_result,
)

CASES: list[dict[str, Any]] = [
    {"name": "Llama 27M, sft, 1024 tokens", "algorithm": "sft", "tokens": 1024,
     "config": {"hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 8,
                "num_attention_heads": 8, "num_key_value_heads": 8}},
    {"name": "Llama 27M, sft, 2048 tokens, GQA", "algorithm": "sft", "tokens": 2048,
     "config": {"hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 8,
                "num_attention_heads": 8, "num_key_value_heads": 2}},
    {"name": "Llama 60M, sft, 1024 tokens", "algorithm": "sft", "tokens": 1024,
     "config": {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 8,
                "num_attention_heads": 12, "num_key_value_heads": 4}},
    {"name": "Llama 27M, lora r=16, 2048 tokens", "algorithm": "lora", "tokens": 2048,
     "lora_r": 16,
     "config": {"hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 8,
                "num_attention_heads": 8, "num_key_value_heads": 8}},
    {"name": "Llama 27M, osft, 1024 tokens", "algorithm": "osft", "tokens": 1024,
     "config": {"hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 8,
                "num_attention_heads": 8, "num_key_value_heads": 8}},
]
QUICK = [0, 3]


def build_case(folder: Path, case: dict[str, Any], vocab: int = 4096) -> tuple[Path, Path]:
    """A model folder (config, random weights, the demo tokenizer) and pre-tokenized data."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from training_hub.demo import materialize_demo_model

    tokenizer = AutoTokenizer.from_pretrained(materialize_demo_model())
    model_dir = folder / "model"
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=max(vocab, len(tokenizer)), max_position_embeddings=4096,
                         tie_word_embeddings=False, pad_token_id=0, eos_token_id=2,
                         **case["config"])
    LlamaForCausalLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data = folder / "data.jsonl"
    generator = torch.Generator().manual_seed(1)
    with data.open("w") as out:
        for _ in range(8):
            ids = torch.randint(3, len(tokenizer), (case["tokens"],), generator=generator)
            out.write(json.dumps({"input_ids": ids.tolist(), "labels": ids.tolist()}) + "\n")
    return model_dir, data


def measure_case(folder: Path, case: dict[str, Any], *, threads: int = 2,
                 steps: int = 3) -> dict[str, Any]:
    """Train ``case`` in a fresh process; its measured peak and the estimate of it."""
    from training_hub import estimate

    model_dir, data = build_case(folder, case)
    params: dict[str, Any] = {
        "model_path": str(model_dir), "data_path": str(data),
        "ckpt_output_dir": str(folder / "out"), "max_tokens_per_gpu": case["tokens"],
        "max_seq_len": case["tokens"], "effective_batch_size": 1, "max_steps": steps,
        "save_final_checkpoint": False, "checkpoint_at_epoch": False, "device": "cpu",
        "data_cache_dir": str(folder / "cache"), "tensorboard": False, "quiet": True,
        "overwrite": True,
    }
    if case["algorithm"] == "lora":
        params["lora_r"] = case["lora_r"]
    if case["algorithm"] == "osft":
        params["unfreeze_rank_ratio"] = 0.25
    spec = folder / "spec.json"
    spec.write_text(json.dumps({"algorithm": case["algorithm"], "params": params,
                                "threads": threads}))
    done = subprocess.run([sys.executable, "-m", "training_hub.engine.measure_memory", str(spec)],
                          capture_output=True, text=True, env=child_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {case['name']} failed:\n{done.stderr[-3000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])["peak_growth"]
    predicted = estimate(case["algorithm"], num_gpus=1, model_path=str(model_dir),
                         max_tokens_per_gpu=case["tokens"], device="cpu", verbose=0,
                         lora_r=case.get("lora_r", 32), unfreeze_rank_ratio=0.25)
    return {"name": case["name"], "measured": measured, "expected": predicted.expected,
            "low": predicted.low, "high": predicted.high,
            "error": predicted.expected / measured - 1}


def _th(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "training_hub.cli", *args],
                          capture_output=True, text=True, env=child_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"th {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


def measure_demo_time(folder: Path, extra: list[str]) -> dict[str, Any]:
    """``th estimate sft --demo``'s predicted time against ``th train sft --demo``'s."""
    out = folder / "demo"
    flags = ["--ckpt-output-dir", str(out), *extra]
    predicted = json.loads(_th("estimate", "sft", "--demo", "--json", *flags).stdout)["time"]
    _th("train", "sft", "--demo", "--quiet", *flags)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    measured = [r["elapsed_s"] for r in records if "loss" in r][-1]
    # total_s holds every planned checkpoint; the final one is written after the last
    # elapsed_s, so it is left out of the prediction compared with it
    loop_s = predicted["total_s"] - (predicted["checkpoint_s"] or 0.0)
    return {"predicted_s": loop_s, "predicted_total_s": predicted["total_s"],
            "measured_s": measured, "checkpoints": predicted["checkpoints"],
            "checkpoint_s": predicted["checkpoint_s"],
            "tokens_per_second": predicted["tokens_per_second"], "steps": predicted["steps"],
            "error": loop_s / measured - 1}


def main() -> int:
    args = bench_arguments("estimate() against measured peak memory and wall time")
    cases = [CASES[i] for i in QUICK] if args.quick else CASES
    rows, details = [], []
    with tempfile.TemporaryDirectory(prefix="th-estimate-") as tmp:
        for index, case in enumerate(cases):
            progress(f"estimate accuracy: {case['name']}")
            got = measure_case(Path(tmp) / f"case{index}", case)
            details.append(got)
            rows.append(Row(
                f"memory, {got['name']}: expected peak", round(got["expected"] / 2**20),
                "MiB", "measured peak RSS growth", round(got["measured"] / 2**20),
                round(1 + got["error"], 3), "within 20% (0.8x-1.2x)",
                abs(got["error"]) <= 0.2,
                note=f"low {got['low'] / 2**20:.0f} MiB, high {got['high'] / 2**20:.0f} MiB",
            ))
        progress("estimate accuracy: the demo's training time")
        # --quick: the first 24 of the demo's 104 steps
        demo = measure_demo_time(Path(tmp), ["--max-steps", "24"] if args.quick else [])
        details.append({"name": "demo time", **demo})
        rows.append(Row(
            f"time, th train sft --demo ({demo['steps']} steps): predicted",
            round(demo["predicted_s"], 1), "s", "measured training loop (last elapsed_s)",
            round(demo["measured_s"], 1), round(1 + demo["error"], 3),
            "within 15% (0.85x-1.15x)", abs(demo["error"]) <= 0.15,
            note=f"calibrated at {demo['tokens_per_second']:.0f} tokens/s (th estimate)",
        ))
    write_result(Result(
        name="estimate_accuracy", title="9. estimate() against measurements (CPU)",
        command=reproduce_command("estimate_accuracy", args.quick), rows=rows,
        details={"cases": details}, quick=args.quick,
    ))
    for row in rows:
        print(f"{row.metric}: {row.value} {row.unit} vs {row.reference_value} -> {row.ratio}x "
              f"({'PASS' if row.passed else 'FAIL'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
