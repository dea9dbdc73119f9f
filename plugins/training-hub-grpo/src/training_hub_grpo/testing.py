"""A toy GRPO task for tests, benchmarks and docs: reverse a word, letter by letter.

Everything is built locally: a letter-level tokenizer, a tiny Llama warmed up by a
few supervised steps (so that it answers in the right format, but badly), a
prompt file (``prompt`` + ``answer`` columns) and :func:`reverse_reward`, which
gives partial credit per correct letter. torch and transformers are imported
inside the functions.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

__all__ = ["LETTERS", "make_reverse_task", "reverse_reward", "write_reverse_prompts"]

LETTERS = "abcdefgh"
_SPECIAL = ["<unk>", "<pad>", "<eos>"]


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
                      layers: int = 2) -> dict[str, Path]:
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
        for word in _words(16, seed + 10_000 + step, (3, 5)):
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
        "train": write_reverse_prompts(folder / "train.jsonl", prompts, seed=seed + 1),
        "eval": write_reverse_prompts(folder / "eval.jsonl", held_out, seed=seed + 2),
    }
