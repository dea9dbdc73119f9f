"""Benchmark: embedding_sft native (packed, padding-free) vs sentence-transformers on CPU.

Same tiny BERT-shaped encoder (built locally), same toy retrieval pairs, same loss
(mnrl), batch size, learning rate, schedule and seed; the two backends alternate and
the best repeat counts. Reports training examples/s of each, their ratio (target:
native >= 1.5x) and both loss curves (docs/embedding_loss.png when matplotlib is there).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import ROOT, Result, Row, bench_arguments, progress, reproduce_command, write_result

NAME = "embedding_cpu"


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
    copies = 1 if args.quick else 3
    batch_size = 64
    backends = {"native": "native", "sentence-transformers": "sentence-transformers"}
    best: dict[str, float] = {}
    curves: dict[str, list[float]] = {}
    runs: dict[str, list[float]] = {name: [] for name in backends}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = make_tiny_encoder(root / "encoder", **size)
        data = write_jsonl(root / "train.jsonl", toy_pairs(copies=copies))
        for repeat in range(repeats):
            for name, backend in backends.items():
                progress(f"{name} run {repeat + 1}/{repeats}")
                result = train("embedding_sft", backend, model_path=str(model),
                               data_path=str(data), ckpt_output_dir=str(root / f"{name}-{repeat}"),
                               loss_type="mnrl", num_epochs=1, batch_size=batch_size,
                               learning_rate=3e-3, logging_steps=1000)
                runs[name].append(result.examples_per_second)
                if result.examples_per_second >= best.get(name, 0.0):
                    best[name] = result.examples_per_second
                    curves[name] = result.losses
        examples = len(toy_pairs(copies=copies))
    ratio = best["native"] / best["sentence-transformers"]
    plotted = _plot(curves, ROOT / "docs" / "embedding_loss.png")
    rows = [Row("native embedding_sft throughput", best["native"], "examples/s",
                "sentence-transformers SentenceTransformerTrainer", best["sentence-transformers"],
                ratio, ">= 1.5x sentence-transformers", ratio >= 1.5)]
    final = {name: sum(c[-5:]) / 5 for name, c in curves.items()}
    notes = [
        f"One epoch of {examples} (anchor, positive) pairs, batch {batch_size}, mnrl, lr 3e-3, "
        f"linear warmup 10% then decay; BERT {size}; best of {repeats} run(s) per backend.",
        "Mean loss of the last 5 steps: " + ", ".join(f"{n} {v:.3f}" for n, v in final.items())
        + (" (curves: docs/embedding_loss.png)" if plotted else ""),
    ]
    write_result(Result(NAME, "10. embedding_sft on CPU: native vs sentence-transformers",
                        reproduce_command(NAME, args.quick), rows, notes,
                        {"examples_per_second": runs, "losses": curves}, quick=args.quick))


if __name__ == "__main__":
    main()
