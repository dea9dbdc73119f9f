"""The single entry point of the benchmark suite: run the benchmarks, then write docs/benchmarks.md.

``python benchmarks/run_all.py`` runs everything (about 15 minutes on 2 CPU cores);
``--quick`` uses fewer repeats and steps (a few minutes); ``--only NAME`` (repeatable)
runs the named benchmarks. Each benchmark runs as its own subprocess and writes
``benchmarks/results/<name>.json``; the report is rebuilt from all result files
present, so a partial run updates only its sections. Exit status 1 when a
benchmark script failed (its old result, if any, is kept and the failure printed).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import BENCH_DIR, child_env
from report import write_report

__all__ = ["BENCHMARKS", "main"]

#: name -> script, in report order.
BENCHMARKS = {
    "startup": "startup.py",
    "discovery": "discovery.py",
    "cpu_sft": "cpu_sft.py",
    "gpu_sft": "gpu_sft.py",
    "osft_cost": "osft_cost.py",
    "data_pipeline": "data_pipeline.py",
    "lora_cpu": "lora_cpu.py",
    "embedding_cpu": "embedding_cpu.py",
    "grpo_cpu": "grpo_cpu.py",
    "profile": "profile_step.py",
    "estimate_accuracy": "estimate_accuracy.py",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite the docs")
    args = parser.parse_args()
    selected = [name for name in BENCHMARKS if not args.only or name in args.only]
    failed = []
    suite_start = time.perf_counter()
    for name in selected:
        start = time.perf_counter()
        print(f"=== {name}", flush=True)
        command = [sys.executable, str(BENCH_DIR / BENCHMARKS[name])]
        done = subprocess.run(command + (["--quick"] if args.quick else []),
                              env=child_env(threads=2), cwd=BENCH_DIR.parent)
        status = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        print(f"=== {name}: {status} in {time.perf_counter() - start:.0f} s", flush=True)
        if done.returncode != 0:
            failed.append(name)
    if not args.no_report:
        print(f"wrote {write_report()}")
    print(f"suite: {time.perf_counter() - suite_start:.0f} s; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
