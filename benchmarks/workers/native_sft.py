"""Worker: train on the native engine and print per-step tokens, time and loss as JSON.

Usage: ``python benchmarks/workers/native_sft.py SPEC_JSON``. The spec holds the
training parameters (``params``) and, optionally, an ``algorithm`` name: without
it ``training_hub.engine.train`` runs ``TrainingParams`` directly (native sft);
with it the installed algorithm (e.g. ``osft``) runs through the registry on its
default backend. Per-step figures come from the run's metrics.jsonl.
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
    params = spec["params"]
    start = time.perf_counter()
    if spec.get("algorithm"):
        from training_hub import create_algorithm

        result = create_algorithm(spec["algorithm"]).train(**params)
    else:
        from training_hub.engine import train
        from training_hub.training_params import TrainingParams

        result = train(TrainingParams(**params))
    total = time.perf_counter() - start
    import torch

    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    records = [json.loads(line) for line in Path(result.metrics_path).read_text().splitlines()]
    steps = [r for r in records if "step" in r and "loss" in r]
    emit_worker_result({
        "tokens": [r["tokens"] for r in steps],
        "seconds": [r["elapsed_s"] for r in steps],
        "losses": [r["loss"] for r in steps],
        "extra": {"peak_gpu_mb": peak_gpu, "wall_s": total,
                  "setup_s": total - result.elapsed_s, "steps": result.steps},
    })


if __name__ == "__main__":
    main()
