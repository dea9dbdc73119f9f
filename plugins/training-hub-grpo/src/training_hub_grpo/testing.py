"""A toy GRPO task for tests, benchmarks and docs: reverse a word, letter by letter.

Everything is built locally: a letter-level tokenizer, a tiny Llama warmed up by a
few supervised steps (so that it answers in the right format, but badly), a
prompt file (``prompt`` + ``answer`` columns) and :func:`reverse_reward`, which
gives partial credit per correct letter. torch and transformers are imported
inside the functions.

:data:`LEARNING_TASK` and :data:`LEARNING_TRAIN` are the settings of the
learning test (held-out mean reward rises by more than 0.2 in 240 steps, about a
minute on one CPU thread); :func:`run_learning` runs them, and
``python -m training_hub_grpo.testing --plot docs/grpo-reward.png`` draws the
reward curve of docs/grpo.md from that run.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

__all__ = ["LEARNING_TASK", "LEARNING_TRAIN", "LETTERS", "make_reverse_task", "plot_learning",
           "reverse_reward", "run_learning", "write_reverse_prompts"]

LETTERS = "abcdefgh"
_SPECIAL = ["<unk>", "<pad>", "<eos>"]

#: make_reverse_task() arguments of the learning test: enough distinct prompts that
#: one pass never repeats one (the held-out reward measures the task, not memory).
LEARNING_TASK: dict[str, Any] = {"warmup_steps": 30, "prompts": 1920, "held_out": 64}

#: train() arguments of the learning test (with model_path, data_path = the task's
#: "train", eval_data_path = its "eval" and ckpt_output_dir). Sampling at 0.5
#: keeps the rollouts close to the greedy completions the evaluation scores.
LEARNING_TRAIN: dict[str, Any] = {
    "reward_fn": "training_hub_grpo.testing:reverse_reward",
    "group_size": 8, "prompt_batch_size": 8, "max_tokens": 7, "temperature": 0.5,
    "learning_rate": 1e-3, "max_steps": 240, "validation_frequency": 20,
    "save_final_checkpoint": False, "device": "cpu", "num_threads": 1, "quiet": True,
}


def reverse_reward(prompts: list[str], completions: list[str], answer: list[str],
                   **columns: Any) -> list[float | None]:
    """Fraction of letters in the right place, over the longer of answer and completion."""
    scores: list[float | None] = []
    for completion, target in zip(completions, answer, strict=True):
        got, want = completion.split(), target.split()
        right = sum(a == b for a, b in zip(got, want, strict=False))
        scores.append(right / max(len(got), len(want), 1))
    return scores


def _make_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*_SPECIAL, "reverse", ":", "=", *LETTERS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>",
                                        pad_token="<pad>", eos_token="<eos>")
    tokenizer.save_pretrained(str(path))
    return tokenizer


def _words(count: int, seed: int, length: tuple[int, int]) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(LETTERS) for _ in range(rng.randint(*length)))
            for _ in range(count)]


def write_reverse_prompts(path: str | Path, count: int, *, seed: int = 0,
                          length: tuple[int, int] = (3, 5)) -> Path:
    """``count`` records ``{"prompt": "reverse : c a b =", "answer": "b a c"}``."""
    target = Path(path)
    with target.open("w", encoding="utf-8") as handle:
        for word in _words(count, seed, length):
            answer = " ".join(reversed(word.split()))
            handle.write(json.dumps({"prompt": f"reverse : {word} =", "answer": answer}) + "\n")
    return target


def make_reverse_task(folder: str | Path, *, warmup_steps: int = 30, prompts: int = 64,
                      held_out: int = 32, seed: int = 0, hidden_size: int = 64,
                      layers: int = 2, length: tuple[int, int] = (3, 5)) -> dict[str, Path]:
    """Tokenizer + tiny Llama warmed up on the task (``model``) and prompt files
    (``train`` and ``eval``) in ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _make_tokenizer(folder / "model")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=False))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    # Supervised warm-up: the answer format and a little of the task, not all of it.
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    eos = tokenizer.eos_token_id
    for step in range(warmup_steps):
        rows = []
        for word in _words(16, seed + 10_000 + step, length):
            prompt = tokenizer(f"reverse : {word} =")["input_ids"]
            answer = tokenizer(" ".join(reversed(word.split())))["input_ids"] + [eos]
            rows.append((prompt, answer))
        width = max(len(p) + len(a) for p, a in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id)
        labels = torch.full((len(rows), width), -100)
        for r, (prompt, answer) in enumerate(rows):
            ids[r, :len(prompt) + len(answer)] = torch.tensor(prompt + answer)
            labels[r, len(prompt):len(prompt) + len(answer)] = torch.tensor(answer)
        loss = model(input_ids=ids, attention_mask=(ids != tokenizer.pad_token_id).long(),
                     labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(str(folder / "model"))
    return {
        "model": folder / "model",
        "train": write_reverse_prompts(folder / "train.jsonl", prompts, seed=seed + 1,
                                       length=length),
        "eval": write_reverse_prompts(folder / "eval.jsonl", held_out, seed=seed + 2,
                                      length=length),
    }


def run_learning(folder: str | Path, algorithm: str = "grpo", **overrides: Any) -> Any:
    """The learning run: warm up the toy model, then ``algorithm`` with :data:`LEARNING_TRAIN`
    (``overrides`` replace train() arguments, e.g. ``backend="trl"``). Returns the result."""
    from training_hub import create_algorithm

    folder = Path(folder)
    task = make_reverse_task(folder / "task", **LEARNING_TASK)
    arguments = {**LEARNING_TRAIN, "model_path": str(task["model"]),
                 "data_path": str(task["train"]), "eval_data_path": str(task["eval"]),
                 "ckpt_output_dir": str(folder / "run"), **overrides}
    backend = arguments.pop("backend", None)
    return create_algorithm(algorithm, backend).train(**arguments)


def plot_learning(result: Any, path: str | Path) -> Path:
    """Held-out (greedy) and training (sampled) mean reward against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = range(1, len(result.reward_history) + 1)
    axes.plot(steps, result.reward_history, color="0.7", linewidth=1,
              label="training batches (sampled, T=0.5)")
    eval_steps, eval_rewards = zip(*result.eval_history, strict=True)
    axes.plot(eval_steps, eval_rewards, marker="o", color="C0",
              label="held-out prompts (greedy)")
    axes.set_xlabel("step")
    axes.set_ylabel("mean reward")
    axes.set_ylim(0, 1)
    axes.set_title("grpo on the toy task (reverse a word), tiny Llama, 1 CPU thread")
    axes.legend(loc="upper left")
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    plt.close(figure)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m training_hub_grpo.testing --plot PNG``: the learning run and its plot."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m training_hub_grpo.testing",
                                     description=main.__doc__)
    parser.add_argument("--plot", required=True, help="where to write the PNG")
    parser.add_argument("--algorithm", default="grpo")
    parser.add_argument("--backend", default=None)
    options = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        result = run_learning(folder, options.algorithm, backend=options.backend)
    first, last = result.eval_history[0][1], result.eval_history[-1][1]
    print(f"held-out mean reward {first:.3f} -> {last:.3f} in {result.steps} steps "
          f"({result.elapsed_s:.0f} s)")
    print(plot_learning(result, options.plot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
