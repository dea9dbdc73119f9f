"""Benchmark 6, data: tokenizing + packing 100k chat samples, and a second run on the cache.

The samples are generated from the embedded demo chats (each one made unique by
a numbered suffix on its first user turn) and tokenized with the demo tokenizer
by the native pipeline (``tokenize_dataset``, worker processes = CPU count), then
every step of one epoch is packed. The second run is a fresh process on the same
file: it must find the cache and be ready to train in under 2 s.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

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

__all__ = ["generate_chats", "main"]

BATCH_SIZE = 64
MAX_TOKENS = 4096


def generate_chats(out_path: Path, count: int) -> None:
    """Write ``count`` unique chat records (JSONL) derived from the demo dataset."""
    from training_hub.demo import demo_data_path

    base = [json.loads(line) for line in demo_data_path().read_text().splitlines()]
    with out_path.open("w") as handle:
        for index in range(count):
            record = json.loads(json.dumps(base[index % len(base)]))
            for message in record["messages"]:
                if message["role"] == "user":
                    message["content"] += f" (request {index})"
                    break
            handle.write(json.dumps(record) + "\n")


def main() -> None:
    args = bench_arguments(__doc__ or "")
    count = 20_000 if args.quick else 100_000
    env = child_env()
    from training_hub.demo import demo_dir

    with tempfile.TemporaryDirectory(prefix="th-bench-data-") as tmp:
        work = Path(tmp)
        data = work / "chats.jsonl"
        generate_chats(data, count)
        progress(f"{count} chats generated ({data.stat().st_size / 1e6:.0f} MB)")
        spec = {"data_path": str(data), "cache_dir": str(work / "cache"),
                "tokenizer_dir": str(demo_dir()), "batch_size": BATCH_SIZE,
                "max_tokens": MAX_TOKENS, "pack_all": True}
        worker = [sys.executable, str(BENCH_DIR / "workers" / "data_pipeline.py")]
        first = run_worker([*worker, json.dumps(spec)], env, timeout=1200,
                           log=RESULTS_DIR / "logs" / "data_pipeline-first.log")
        progress("first run done")
        spec["pack_all"] = False
        cached = [run_worker([*worker, json.dumps(spec)], env, timeout=600,
                             log=RESULTS_DIR / "logs" / f"data_pipeline-cached-{i}.log")
                  for i in range(3)]
    if first["from_cache"] or not all(run["from_cache"] for run in cached):
        raise RuntimeError(f"cache use not as expected: first {first}, second {cached}")
    first_s = first["tokenize_s"] + first["pack_s"]
    rate = count / first_s
    best = min(cached, key=lambda run: run["tokenize_s"] + run["pack_s"])
    load_s = best["tokenize_s"] + best["pack_s"]
    rows = [
        Row(f"tokenize + pack {count} chat samples", rate, "samples/s",
            "wall time of the first run", first_s, None, "reported", None,
            note=f"tokenize {first['tokenize_s']:.1f} s, pack all {first['steps']} steps "
            f"{first['pack_s']:.1f} s, {first['tokens']} tokens", reference_unit="s"),
        Row("second run: cache hit to first packed step", load_s, "s", "first run",
            first_s, load_s / first_s, "< 2 s", load_s < 2,
            note=f"fresh process incl. imports and tokenizer load: "
            f"{best['to_first_step_s']:.2f} s"),
    ]
    notes = [
        f"{count} generated chat samples (from the demo chats), demo tokenizer, assistant-only "
        f"labels; {BATCH_SIZE} samples per step packed into micro-batches of at most "
        f"{MAX_TOKENS} tokens; tokenizer worker processes: CPU count; cache-hit figure: best "
        "of 3 fresh processes."
    ]
    write_result(Result(
        name="data_pipeline", title="6. Data pipeline",
        command=reproduce_command("data_pipeline", args.quick), rows=rows, notes=notes,
        quick=args.quick, details={"first": first, "cached": cached},
    ))


if __name__ == "__main__":
    main()
