"""Worker: tokenize + pack a chat dataset with the native data pipeline; print timings as JSON.

Usage: ``python benchmarks/workers/data_pipeline.py SPEC_JSON`` with ``data_path``,
``cache_dir``, ``tokenizer_dir``, ``batch_size``, ``max_tokens`` and ``pack_all``
(build every packed step of the epoch, or only the first). Times: tokenizer load,
``tokenize_dataset`` (tokenizing, or loading the cache), planning + packing.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import emit_worker_result

__all__ = ["main"]


def main() -> None:
    spec = json.loads(sys.argv[1])
    start = time.perf_counter()
    from transformers import AutoTokenizer

    from training_hub.engine.data import StepBatcher, tokenize_dataset

    tokenizer = AutoTokenizer.from_pretrained(spec["tokenizer_dir"])
    tokenizer_loaded = time.perf_counter()
    dataset = tokenize_dataset(spec["data_path"], tokenizer, max_seq_len=spec["max_tokens"],
                               cache_dir=spec["cache_dir"])
    data_ready = time.perf_counter()
    batcher = StepBatcher(dataset, effective_batch_size=spec["batch_size"],
                          max_tokens_per_gpu=spec["max_tokens"], seed=0,
                          pad_token_id=tokenizer.pad_token_id or 0)
    steps = tokens = 0
    first_step_at = None
    for step in batcher:
        steps += 1
        tokens += step.num_tokens
        if first_step_at is None:
            first_step_at = time.perf_counter()
            if not spec["pack_all"]:
                break
    packed = time.perf_counter()
    emit_worker_result({
        "samples": len(dataset), "from_cache": dataset.from_cache, "steps": steps,
        "tokens": tokens, "tokenizer_load_s": tokenizer_loaded - start,
        "tokenize_s": data_ready - tokenizer_loaded, "pack_s": packed - data_ready,
        "to_first_step_s": (first_step_at or packed) - start,
        "imports_and_tokenizer_s": tokenizer_loaded - start,
    })


if __name__ == "__main__":
    main()
