"""Benchmark: embedding_sft native (packed, padding-free) vs sentence-transformers on CPU.

Same tiny BERT-shaped encoder (built locally), same toy retrieval pairs, same loss
(mnrl), batch size, learning rate, schedule and seed; the two backends alternate and
the best repeat counts. Throughput is measured by one training-hub callback on both
backends, from the end of the third optimizer step to the end of the last one, so it
covers everything a step costs (data, collation, forward, backward, AdamW, logging)
and neither start-up. Reports training examples/s of each, their ratio (target:
native >= 1.5x) and both loss curves (docs/embedding_loss.png when matplotlib is there).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, Result, Row, bench_arguments, progress, reproduce_command, write_result

NAME = "embedding_cpu"
SKIP_STEPS = 3


class StepClock:
    """A training-hub callback: wall and CPU time at the end of every optimizer step."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_step_end(self, context: Any) -> None:
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def per_second(self, batch_size: int) -> tuple[float, float]:
        """Examples per wall second and per CPU second after the first SKIP_STEPS steps."""
        steps = len(self.wall) - SKIP_STEPS
        examples = steps * batch_size
        return (examples / (self.wall[-1] - self.wall[SKIP_STEPS - 1]),
                examples / (self.cpu[-1] - self.cpu[SKIP_STEPS - 1]))


def _distinct(pairs: list[dict[str, str]], batch_size: int) -> list[dict[str, str]]:
    """Pairs whose texts appear once, a whole number of batches of them: both samplers
    (no_duplicates) then draw the same number of full batches, so steps count alike."""
    seen: set[str] = set()
    kept = []
    for pair in pairs:
        texts = set(pair.values())
        if seen.isdisjoint(texts):
            seen.update(texts)
            kept.append(pair)
    return kept[:len(kept) - len(kept) % batch_size]


def _plot(curves: dict[str, list[float]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for label, losses in curves.items():
        axes.plot(range(1, len(losses) + 1), losses, label=label)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("mnrl loss")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True


def main() -> None:
    args = bench_arguments(__doc__ or "")
    from training_hub_embedding.testing import make_tiny_encoder, toy_pairs, write_jsonl

    from training_hub import train

    repeats = 1 if args.quick else 2
    size = dict(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=256) if args.quick \
        else dict(hidden_size=128, num_layers=4, num_heads=4, intermediate_size=512)
    copies, epochs = (2, 2) if args.quick else (3, 3)
    batch_size = 64
    backends = ("native", "sentence-transformers")
    best: dict[str, float] = {}
    cpu_rate: dict[str, float] = {}
    curves: dict[str, list[float]] = {}
    runs: dict[str, list[float]] = {name: [] for name in backends}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = make_tiny_encoder(root / "encoder", **size)
        pairs = _distinct(toy_pairs(copies=copies), batch_size)
        data = write_jsonl(root / "train.jsonl", pairs)
        for repeat in range(repeats):
            for backend in backends:
                progress(f"{backend} run {repeat + 1}/{repeats}")
                clock = StepClock()
                result = train("embedding_sft", backend, model_path=str(model),
                               data_path=str(data),
                               ckpt_output_dir=str(root / f"{backend}-{repeat}"),
                               loss_type="mnrl", num_epochs=epochs, batch_size=batch_size,
                               learning_rate=3e-3, logging_steps=1000, callbacks=[clock])
                wall, cpu = clock.per_second(batch_size)
                runs[backend].append(wall)
                if wall >= best.get(backend, 0.0):
                    best[backend], cpu_rate[backend] = wall, cpu
                    curves[backend] = result.losses
    ratio = best["native"] / best["sentence-transformers"]
    plotted = _plot(curves, ROOT / "docs" / "embedding_loss.png")
    rows = [
        Row("native embedding_sft throughput", best["native"], "examples/s",
            "sentence-transformers SentenceTransformerTrainer", best["sentence-transformers"],
            ratio, ">= 1.5x sentence-transformers", ratio >= 1.5),
        Row("native examples per CPU second (all threads)", cpu_rate["native"], "examples/s",
            "sentence-transformers", cpu_rate["sentence-transformers"],
            cpu_rate["native"] / cpu_rate["sentence-transformers"], "reported"),
    ]
    final = {name: sum(c[-5:]) / 5 for name, c in curves.items()}
    gap = max(abs(a - b) for a, b in zip(curves["native"], curves["sentence-transformers"],
                                         strict=False))
    notes = [
        f"{epochs} epoch(s) of {len(pairs)} (anchor, positive) pairs, batch {batch_size}, mnrl, "
        f"lr 3e-3, linear warmup 10% then decay; BERT {size}; best of {repeats} run(s) per "
        f"backend; throughput from step {SKIP_STEPS} to the last.",
        "Mean loss of the last 5 steps: " + ", ".join(f"{n} {v:.3f}" for n, v in final.items())
        + f"; largest gap between the curves at one step: {gap:.3f}"
        + (" (curves: docs/embedding_loss.png)" if plotted else ""),
    ]
    write_result(Result(NAME, "10. embedding_sft on CPU: native vs sentence-transformers",
                        reproduce_command(NAME, args.quick), rows, notes,
                        {"examples_per_second": runs, "losses": curves}, quick=args.quick))


if __name__ == "__main__":
    main()
