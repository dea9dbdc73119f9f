"""Retention experiment: does OSFT keep task A while learning task B, where SFT forgets it?

1. A tiny Llama (random init) learns task A (adding small numbers) with sft.
2. From that checkpoint it learns task B (counting animals, naming colours) twice
   at the same budget: with sft, and with osft (``unfreeze_rank_ratio``).
3. Every checkpoint of step 2 is scored on held-out A and B samples (mean
   cross-entropy of the assistant tokens).

Run from the repository root (about a minute on 2 CPU cores)::

    python plugins/training-hub-osft/examples/retention.py --write-docs

``--write-docs`` writes ``docs/osft-retention.png`` and replaces the table
between the retention markers of ``docs/osft.md``.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RetentionResult", "evaluate_loss", "main", "run_experiment", "write_docs"]

_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_ANIMALS = ["cat", "dog", "bird", "fish"]
_COLORS = ["red", "blue", "green"]
TABLE_START = "<!-- retention-table:start -->"
TABLE_END = "<!-- retention-table:end -->"


def task_a_sample(rng: random.Random) -> dict[str, Any]:
    a, b = rng.randrange(6), rng.randrange(5)
    return _chat(f"what is {_NUMBERS[a]} plus {_NUMBERS[b]} ?", f"{_NUMBERS[a + b]} .")


def task_b_sample(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.5:
        count = rng.randrange(1, 7)
        words = " ".join([rng.choice(_ANIMALS)] * count)
        return _chat(f"how many are there in {words} ?", f"there are {_NUMBERS[count]} .")
    index = rng.randrange(len(_ANIMALS))
    animal, color = _ANIMALS[index], _COLORS[index % len(_COLORS)]
    return _chat(f"what color is the {animal} ?", f"the {animal} is {color} .")


def _chat(question: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def _write_jsonl(path: Path, samples: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(s) + "\n" for s in samples), encoding="utf-8")
    return path


def evaluate_loss(model_dir: str | Path, samples: list[dict[str, Any]]) -> float:
    """Mean cross-entropy of the answer tokens of ``samples`` under the model in ``model_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for sample in samples:
            encoded = tokenizer.apply_chat_template(
                sample["messages"], return_dict=True, return_assistant_tokens_mask=True
            )
            ids = torch.tensor([encoded["input_ids"]])
            mask = torch.tensor(encoded["assistant_masks"][1:], dtype=torch.bool)
            logits = model(ids).logits[0, :-1]
            losses = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")
            total += float(losses[mask].sum())
            count += int(mask.sum())
    return total / max(1, count)


@dataclass
class RetentionResult:
    """Task losses along task-B training (step 0 is the task-A model)."""

    steps: list[int]
    task_a: dict[str, list[float]] = field(default_factory=dict)  # method -> losses
    task_b: dict[str, list[float]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def run_experiment(
    workdir: str | Path,
    *,
    steps_a: int = 200,
    steps_b: int = 60,
    eval_every: int = 10,
    unfreeze_rank_ratio: float = 0.25,
    learning_rate_b: float = 2e-3,
    hidden_size: int = 64,
    eval_samples: int = 48,
    seed: int = 0,
) -> RetentionResult:
    """Train A, then B with sft and osft; score A and B at every ``eval_every`` steps of B."""
    from training_hub import osft, sft
    from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer

    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    data_a = _write_jsonl(root / "task_a.jsonl", [task_a_sample(rng) for _ in range(512)])
    data_b = _write_jsonl(root / "task_b.jsonl", [task_b_sample(rng) for _ in range(512)])
    held_out = random.Random(seed + 1)
    eval_a = [task_a_sample(held_out) for _ in range(eval_samples)]
    eval_b = [task_b_sample(held_out) for _ in range(eval_samples)]

    base = root / "base"
    tokenizer = make_tiny_tokenizer(base)
    make_tiny_model(
        base, tokenizer, hidden_size=hidden_size, intermediate_size=2 * hidden_size, seed=seed
    )
    common: dict[str, Any] = {
        "effective_batch_size": 16,
        "max_tokens_per_gpu": 1024,
        "max_seq_len": 128,
        "lr_scheduler": "constant",
        "warmup_steps": 0,
        "quiet": True,
        "tensorboard": False,
        "device": "cpu",
        "overwrite": True,
        "data_cache_dir": str(root / "cache"),
        "seed": seed,
        "checkpoint_at_epoch": False,
    }
    task_a = sft(
        model_path=str(base),
        data_path=str(data_a),
        ckpt_output_dir=str(root / "a"),
        max_steps=steps_a,
        learning_rate=3e-3,
        **common,
    )
    model_a = task_a.last_checkpoint
    assert model_a is not None

    result = RetentionResult(
        steps=[0, *range(eval_every, steps_b + 1, eval_every)],
        settings={
            "steps_a": steps_a,
            "steps_b": steps_b,
            "learning_rate_b": learning_rate_b,
            "unfreeze_rank_ratio": unfreeze_rank_ratio,
            "hidden_size": hidden_size,
            "eval_samples": eval_samples,
            "seed": seed,
        },
    )
    start_a, start_b = evaluate_loss(model_a, eval_a), evaluate_loss(model_a, eval_b)
    runs = {
        "sft": lambda out: sft(**out),
        f"osft (r={unfreeze_rank_ratio})": lambda out: osft(
            unfreeze_rank_ratio=unfreeze_rank_ratio, **out
        ),
    }
    for method, train in runs.items():
        out_dir = root / method.split(" ")[0]
        train(
            {
                "model_path": model_a,
                "data_path": str(data_b),
                "ckpt_output_dir": str(out_dir),
                "max_steps": steps_b,
                "learning_rate": learning_rate_b,
                "save_every": eval_every,
                **common,
            }
        )
        result.task_a[method], result.task_b[method] = [start_a], [start_b]
        for step in result.steps[1:]:
            checkpoint = out_dir / "checkpoints" / f"step-{step}"
            result.task_a[method].append(evaluate_loss(checkpoint, eval_a))
            result.task_b[method].append(evaluate_loss(checkpoint, eval_b))
    (root / "retention.json").write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    return result


def markdown_table(result: RetentionResult) -> str:
    """Final losses of both methods, with the task-A model as the starting row."""
    lines = [
        "| model | task-A loss (retention, lower is better) | task-B loss (new task) |",
        "|---|---|---|",
    ]
    first = next(iter(result.task_a))
    lines.append(
        f"| task-A model (before task B) | {result.task_a[first][0]:.3f} | "
        f"{result.task_b[first][0]:.3f} |"
    )
    for method in result.task_a:
        lines.append(
            f"| after {result.steps[-1]} steps of task B with {method} | "
            f"{result.task_a[method][-1]:.3f} | {result.task_b[method][-1]:.3f} |"
        )
    return "\n".join(lines)


def plot(result: RetentionResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for method in result.task_a:
        left.plot(result.steps, result.task_a[method], marker="o", label=method)
        right.plot(result.steps, result.task_b[method], marker="o", label=method)
    left.set_title("task A (old): loss while learning B")
    right.set_title("task B (new): loss")
    for axes in (left, right):
        axes.set_xlabel("optimizer steps on task B")
        axes.set_ylabel("assistant-token cross-entropy")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_docs(result: RetentionResult, docs_dir: Path) -> None:
    """Write the figure and replace the table between the markers of ``osft.md``."""
    plot(result, docs_dir / "osft-retention.png")
    page = docs_dir / "osft.md"
    text = page.read_text(encoding="utf-8")
    head, _, rest = text.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    if not rest:
        raise SystemExit(f"{page} has no {TABLE_START} marker")
    page.write_text(
        f"{head}{TABLE_START}\n{markdown_table(result)}\n{TABLE_END}{tail}", encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="retention-run")
    parser.add_argument("--write-docs", action="store_true", help="update docs/ (repo root)")
    parser.add_argument("--docs-dir", default="docs")
    args = parser.parse_args(argv)
    result = run_experiment(args.workdir)
    print(markdown_table(result))
    if args.write_docs:
        write_docs(result, Path(args.docs_dir))


if __name__ == "__main__":
    main()
