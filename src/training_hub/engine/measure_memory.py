"""Measure what ``estimate`` predicts: peak memory growth of a real native-engine run.

``python -m training_hub.engine.measure_memory SPEC_JSON`` trains in a fresh process and
prints one JSON line: the peak RSS growth (CPU: ``VmHWM`` after training minus
``VmRSS`` once torch, transformers and the tokenized data are loaded, with the
high-water mark reset there through ``/proc/self/clear_refs``) or, on a GPU,
``torch.cuda.max_memory_allocated``. The tests and ``benchmarks/estimate_accuracy.py``
compare it with :func:`training_hub.estimate` (docs/estimate.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "rss_bytes"]


def rss_bytes(field: str = "VmRSS") -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec: dict[str, Any] = json.loads(Path(args[0]).read_text())
    import torch

    from .._algorithm_registry import AlgorithmRegistry

    algorithm = AlgorithmRegistry.get_algorithm(spec["algorithm"])
    backend_class = AlgorithmRegistry.get_backend(spec["algorithm"], "native")
    schema = algorithm.params_schema
    assert schema is not None
    params = schema(**spec["params"])
    backend = backend_class()
    from . import recipe
    from .data import load_training_data
    from .model import load_tokenizer

    load_training_data(params, load_tokenizer(params))  # tokenize now: cached for the run
    torch.set_num_threads(int(spec.get("threads", torch.get_num_threads())))
    cuda = params.device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        _reset_peak()
        before = rss_bytes()
    result = recipe.train(params, backend.make_adapter(params))
    peak = torch.cuda.max_memory_allocated() - before if cuda else rss_bytes("VmHWM") - before
    print(json.dumps({"peak_growth": peak, "steps": result.steps,
                      "final_loss": result.final_loss}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
