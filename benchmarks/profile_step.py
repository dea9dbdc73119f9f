"""Profile of the native train step (torch.profiler) on the ~7M benchmark model, CPU, 2 threads.

The engine runs unchanged (``training_hub.engine.train``); an optimizer step
post-hook advances the profiler schedule, so the recorded window is exactly
``ACTIVE_STEPS`` whole optimizer steps (forward, backward, clipping, AdamW)
after ``SKIP_STEPS`` warm-up steps: data loading and model set-up are not in it.
The result lists the operators with the most self CPU time and their share,
grouped into matmul / attention / loss / optimizer / other.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Result, Row, bench_arguments, progress, reproduce_command, write_result
from _sft_common import prepare_model, prepare_tokenized_data
from cpu_sft import BATCH_SIZE, THREADS, native_params

__all__ = ["ACTIVE_STEPS", "SKIP_STEPS", "categorize", "main"]

SKIP_STEPS = 3
ACTIVE_STEPS = 5
TOP_OPS = 15

_CATEGORIES = (
    ("attention", ("scaled_dot_product", "flash_attention", "_efficient_attention")),
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")),
    ("loss", ("cross_entropy", "log_softmax", "nll_loss", "_log_softmax")),
    ("optimizer", ("adamw", "adam", "_foreach", "lerp", "addcdiv", "addcmul")),
    ("gradient clipping", ("norm", "clip_grad")),
    ("copies / layout", ("aten::copy_", "aten::cat", "aten::contiguous", "aten::clone",
                         "aten::index", "aten::gather", "aten::embedding", "aten::to",
                         "aten::_to_copy", "aten::fill_", "aten::zero_", "aten::empty")),
)


def categorize(op_name: str) -> str:
    """The category of an operator name (first match in ``_CATEGORIES``), else ``other``."""
    lowered = op_name.lower()
    for category, needles in _CATEGORIES:
        if any(needle.lower() in lowered for needle in needles):
            return category
    return "other"


def _profile(params: dict[str, Any]) -> tuple[list[dict[str, Any]], float, float]:
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.profiler import ProfilerActivity, profile, schedule

    from training_hub.engine import train
    from training_hub.training_params import TrainingParams

    steps = {"count": 0, "window_start": 0.0, "window_end": 0.0}

    with profile(activities=[ProfilerActivity.CPU],
                 schedule=schedule(wait=SKIP_STEPS - 1, warmup=1, active=ACTIVE_STEPS,
                                   repeat=1)) as prof:

        def after_step(*_: Any) -> None:
            steps["count"] += 1
            if steps["count"] == SKIP_STEPS:
                steps["window_start"] = time.perf_counter()
            if steps["count"] == SKIP_STEPS + ACTIVE_STEPS:
                steps["window_end"] = time.perf_counter()
            prof.step()

        handle = register_optimizer_step_post_hook(after_step)
        try:
            train(TrainingParams(**params))
        finally:
            handle.remove()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    ops = [
        {"op": e.key, "self_cpu_ms": e.self_cpu_time_total / 1000, "calls": e.count,
         "share": e.self_cpu_time_total / total}
        for e in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)
    ]
    return ops, total / 1000, steps["window_end"] - steps["window_start"]


def main() -> None:
    args = bench_arguments(__doc__ or "")
    total_steps = SKIP_STEPS + ACTIVE_STEPS + 1
    with tempfile.TemporaryDirectory(prefix="th-bench-profile-") as tmp:
        work = Path(tmp)
        model = prepare_model(work / "model")
        data = work / "train.jsonl"
        lengths = prepare_tokenized_data(model, data, total_steps * BATCH_SIZE, seed=1)
        params = native_params(model, data, work / "out", work / "cache")
        progress("profiling")
        ops, profiled_ms, window_s = _profile(params)
    shares: dict[str, float] = {}
    for op in ops:
        shares[categorize(op["op"])] = shares.get(categorize(op["op"]), 0.0) + op["share"]
    rows = [
        Row(f"share of self CPU time: {category}", share * 100, "%", target="reported")
        for category, share in sorted(shares.items(), key=lambda kv: kv[1], reverse=True)
    ]
    window_tokens = int(ACTIVE_STEPS * BATCH_SIZE * lengths.mean())
    notes = [
        f"{ACTIVE_STEPS} optimizer steps profiled after {SKIP_STEPS} warm-up steps, batch "
        f"{BATCH_SIZE}, {THREADS} threads, fp32; {profiled_ms:.0f} ms of operator self time "
        f"recorded in a {window_s:.2f} s window (profiler overhead included) over about "
        f"{window_tokens} tokens.",
    ]
    write_result(Result(
        name="profile", title="Profile of the native train step (CPU)",
        command=reproduce_command("profile", args.quick), rows=rows, notes=notes,
        quick=args.quick,
        details={"top_ops": ops[:TOP_OPS], "category_shares": shares,
                 "window_s": window_s, "profiled_self_ms": profiled_ms},
    ))


if __name__ == "__main__":
    main()
