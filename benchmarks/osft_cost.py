"""Benchmark 5, OSFT cost: OSFT step time and peak memory against SFT on the same model and data.

Both run on the native engine in their own subprocesses (alternating, best of
the repeats), on the ~7M benchmark model, the same pre-tokenized chat samples, batch,
steps and threads. OSFT runs through the registry (``create_algorithm("osft")``),
so the installed plugin is measured as users get it; when it is not installed
or fails, its rows say why.
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
from _sft_common import TrainRun, prepare_model, prepare_tokenized_data
from cpu_sft import BATCH_SIZE, THREADS, WARMUP_STEPS, native_params

__all__ = ["UNFREEZE_RANK_RATIO", "main"]

UNFREEZE_RANK_RATIO = 0.25


def _step_seconds(run: TrainRun) -> float:
    """Mean seconds per optimizer step after the warm-up steps."""
    steps = len(run.seconds) - WARMUP_STEPS
    return (run.seconds[-1] - run.seconds[WARMUP_STEPS - 1]) / steps


def main() -> None:
    args = bench_arguments(__doc__ or "")
    steps = 10 if args.quick else 16
    repeats = 1 if args.quick else 2
    env = child_env(threads=THREADS)
    notes = [
        f"{steps} optimizer steps of {BATCH_SIZE} samples on the ~7M benchmark model, {THREADS} "
        f"threads, fp32; OSFT with unfreeze_rank_ratio={UNFREEZE_RANK_RATIO} and the default "
        f"target projections; step time averaged over steps {WARMUP_STEPS + 1}..{steps}; "
        f"best of {repeats} run(s) each."
    ]
    problem = algorithm_problem("osft")
    runs: dict[str, list[TrainRun]] = {"sft": [], "osft": []}
    with tempfile.TemporaryDirectory(prefix="th-bench-osft-") as tmp:
        work = Path(tmp)
        model = prepare_model(work / "model")
        data = work / "train.jsonl"
        prepare_tokenized_data(model, data, steps * BATCH_SIZE, seed=2)
        for repeat in range(repeats):
            for name in ("sft", "osft"):
                if name == "osft" and problem is not None:
                    continue
                params: dict[str, Any] = native_params(model, data, work / f"{name}-{repeat}",
                                                       work / "cache")
                spec: dict[str, Any] = {"params": params}
                if name == "osft":
                    spec = {"algorithm": "osft",
                            "params": {**params, "unfreeze_rank_ratio": UNFREEZE_RANK_RATIO}}
                try:
                    runs[name].append(TrainRun.from_dict(run_worker(
                        [sys.executable, str(BENCH_DIR / "workers" / "native_sft.py"),
                         json.dumps(spec)], env, timeout=900,
                        log=RESULTS_DIR / "logs" / f"osft_cost-{name}-{repeat}.log")))
                except RuntimeError as exc:
                    if name != "osft":
                        raise
                    problem = f"the osft run failed: {str(exc)[-600:]}"
                progress(f"{name} run {repeat + 1}/{repeats} done")

    sft_step = min(_step_seconds(r) for r in runs["sft"])
    sft_rss = min(r.peak_rss_mb for r in runs["sft"])
    if problem is None and runs["osft"]:
        osft_step = min(_step_seconds(r) for r in runs["osft"])
        osft_rss = min(r.peak_rss_mb for r in runs["osft"])
        rows = [
            Row("OSFT step time", osft_step, "s", "SFT step time", sft_step,
                osft_step / sft_step, "<= 1.5x", osft_step / sft_step <= 1.5),
            Row("OSFT peak RSS", osft_rss, "MiB", "SFT peak RSS", sft_rss,
                osft_rss / sft_rss, "<= 1.5x", osft_rss / sft_rss <= 1.5),
        ]
        osft_best = min(runs["osft"], key=_step_seconds)
        notes.append(
            f"OSFT set-up (model load, SVD of the targets, data) took "
            f"{osft_best.extra.get('setup_s', float('nan')):.1f} s, SFT "
            f"{min(runs['sft'], key=_step_seconds).extra.get('setup_s', float('nan')):.1f} s."
        )
    else:
        notes.append(f"OSFT rows not measured: {problem}")
        rows = [
            Row("OSFT step time", None, "s", "SFT step time", sft_step, None, "<= 1.5x", None,
                note="not measured: " + str(problem)[:300]),
            Row("OSFT peak RSS", None, "MiB", "SFT peak RSS", sft_rss, None, "<= 1.5x", None,
                note="not measured"),
        ]
    write_result(Result(
        name="osft_cost", title="5. OSFT cost", command=reproduce_command("osft_cost", args.quick),
        rows=rows, notes=notes, quick=args.quick,
        details={name: {"step_s": [_step_seconds(r) for r in rs],
                        "peak_rss_mb": [r.peak_rss_mb for r in rs],
                        "final_loss": [r.losses[-1] for r in rs]} for name, rs in runs.items()},
    ))


if __name__ == "__main__":
    main()
