"""Benchmark 7, LoRA throughput on CPU: the native ``lora`` backend against TRL's SFTTrainer
with a peft ``LoraConfig`` (what a user of TRL writes for LoRA).

Everything but the adapters is benchmark 3's setup: the same ~7M Llama, the same
pre-tokenized chat samples (one epoch), optimizer steps, batch size, learning rate
and thread count; TRL runs in its fastest configuration (``padding_free``). Both
train the same adapters: rank 16, alpha 32, no dropout, on every attention and
MLP projection. The native run goes through the registry
(``create_algorithm("lora")``), as users get it. Each system runs in its own
subprocess, alternating; each figure is the best repeat.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    RESULTS_DIR,
    Result,
    Row,
    algorithm_problem,
    bench_arguments,
    child_env,
    progress,
    reproduce_command,
    run_worker,
    write_result,
)
from _sft_common import TrainRun, prepare_model, prepare_tokenized_data, steady_throughput
from cpu_sft import BATCH_SIZE, LEARNING_RATE, SEED, THREADS, WARMUP_STEPS, native_params

__all__ = ["ADAPTERS", "main"]

#: The adapters both systems train.
ADAPTERS: dict[str, Any] = {
    "r": 16, "alpha": 32.0, "dropout": 0.0,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                       "down_proj"],
}


def main() -> None:
    args = bench_arguments(__doc__ or "")
    steps = 12 if args.quick else 30
    repeats = 1 if args.quick else 2
    env = child_env(threads=THREADS)
    problem = algorithm_problem("lora")
    runs: dict[str, list[TrainRun]] = {"native": [], "trl": []}
    with tempfile.TemporaryDirectory(prefix="th-bench-lora-") as tmp:
        work = Path(tmp)
        model = prepare_model(work / "model")
        data = work / "train.jsonl"
        lengths = prepare_tokenized_data(model, data, steps * BATCH_SIZE)
        for repeat in range(repeats):
            if problem is None:
                params = {
                    **native_params(model, data, work / f"native-{repeat}", work / "cache"),
                    "lora_r": ADAPTERS["r"], "lora_alpha": ADAPTERS["alpha"],
                    "lora_dropout": ADAPTERS["dropout"],
                    "target_modules": ADAPTERS["target_modules"],
                }
                runs["native"].append(TrainRun.from_dict(run_worker(
                    [sys.executable, str(BENCH_DIR / "workers" / "native_sft.py"),
                     json.dumps({"algorithm": "lora", "params": params})],
                    env, timeout=900, log=RESULTS_DIR / "logs" / f"lora_cpu-native-{repeat}.log")))
                progress(f"native run {repeat + 1}/{repeats} done")
            spec = {"model_path": str(model), "data_path": str(data), "threads": THREADS,
                    "output_dir": str(work / f"trl-{repeat}"), "batch_size": BATCH_SIZE,
                    "learning_rate": LEARNING_RATE, "seed": SEED, "lora": ADAPTERS}
            runs["trl"].append(TrainRun.from_dict(run_worker(
                [sys.executable, str(BENCH_DIR / "workers" / "trl_sft.py"), json.dumps(spec)],
                env, timeout=900, log=RESULTS_DIR / "logs" / f"lora_cpu-trl-{repeat}.log")))
            progress(f"TRL + peft run {repeat + 1}/{repeats} done")

    rated = {name: [(run, steady_throughput(run, WARMUP_STEPS)[0]) for run in found]
             for name, found in runs.items()}
    trl, trl_tps = max(rated["trl"], key=lambda pair: pair[1])
    trl_rss = min(r.peak_rss_mb for r in runs["trl"])
    notes = [
        f"{steps} optimizer steps of {BATCH_SIZE} samples, one epoch over {len(lengths)} demo "
        f"chat samples ({int(lengths.sum())} tokens), {THREADS} threads, fp32; adapters rank "
        f"{ADAPTERS['r']}, alpha {ADAPTERS['alpha']:g}, dropout {ADAPTERS['dropout']:g} on "
        f"{', '.join(ADAPTERS['target_modules'])}; throughput over steps "
        f"{WARMUP_STEPS + 1}..{steps}; best of {repeats} run(s) per system.",
        "The target is the decision of this project (the benchmark issue sets none for LoRA): "
        "the bar of full SFT, target 3.",
    ]
    if problem is None:
        native, native_tps = max(rated["native"], key=lambda pair: pair[1])
        for name, run in (("native", native), ("trl", trl)):
            if len(run.tokens) != steps or run.tokens[-1] != int(lengths.sum()):
                raise RuntimeError(f"{name} ran {len(run.tokens)} steps over {run.tokens[-1]} "
                                   f"tokens; expected {steps} steps over {int(lengths.sum())}")
        native_rss = min(r.peak_rss_mb for r in runs["native"])
        speedup = native_tps / trl_tps
        rows = [
            Row("native lora throughput", native_tps, "tokens/s", "TRL SFTTrainer + peft LoRA "
                "(padding_free)", trl_tps, speedup, ">= 2x TRL + peft", speedup >= 2),
            Row("native lora peak RSS", native_rss, "MiB", "TRL + peft peak RSS", trl_rss,
                native_rss / trl_rss, "<= TRL + peft", native_rss <= trl_rss),
            Row("native lora final loss (last step)", native.losses[-1], "",
                "TRL + peft final loss", trl.losses[-1], native.losses[-1] / trl.losses[-1],
                "reported (same steps/tokens)", None,
                note=f"first step: native {native.losses[0]:.3f}, TRL {trl.losses[0]:.3f}"),
        ]
    else:
        notes.append(f"native rows not measured: {problem}")
        rows = [Row("native lora throughput", None, "tokens/s", "TRL SFTTrainer + peft LoRA "
                    "(padding_free)", trl_tps, None, ">= 2x TRL + peft", None,
                    note="not measured: " + problem)]
    write_result(Result(
        name="lora_cpu", title="7. LoRA throughput on CPU",
        command=reproduce_command("lora_cpu", args.quick), rows=rows, notes=notes,
        quick=args.quick,
        details={name: {"tokens_per_s": [tps for _, tps in pairs],
                        "peak_rss_mb": [run.peak_rss_mb for run, _ in pairs],
                        "final_loss": [run.losses[-1] for run, _ in pairs]}
                 for name, pairs in rated.items()},
    ))


if __name__ == "__main__":
    main()
