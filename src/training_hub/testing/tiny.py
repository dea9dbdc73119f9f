"""Tiny real models, tokenizers and chat data for tests and benchmarks.

Everything is built locally (no hub downloads): a word-level tokenizer with a
ChatML chat template, a 2-layer Llama built from a ``LlamaConfig``, and a chat
JSONL file. torch and transformers are imported inside the functions so that
importing this module stays light.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

__all__ = [
    "CHATML_TEMPLATE",
    "TINY_WORDS",
    "make_tiny_model",
    "make_tiny_tokenizer",
    "smoke_training_params",
    "write_chat_jsonl",
]

#: ChatML template with the ``{% generation %}`` markers that assistant masks rely on.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<unk>", "<pad>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]

#: The vocabulary of the tiny tokenizer (besides special tokens and role names).
TINY_WORDS = (
    "the a an one two three four five six seven eight nine ten cat dog bird fish tree "
    "red blue green big small fast slow runs jumps sits eats sleeps sings what is how "
    "many are there count color of name say hello hi yes no please thanks answer "
    "question and or not to in on with for from this that it i you we they system "
    "user assistant helpful add plus minus equals zero , . ? !"
).split()


def make_tiny_tokenizer(path: str | Path) -> Any:
    """Build a word-level tokenizer with a ChatML template and save it to ``path``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for word in ["\n", *TINY_WORDS]:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split("\n", behavior="isolated"), pre_tokenizers.WhitespaceSplit()]
    )
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token=None,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(str(path))
    return tokenizer


def make_tiny_model(path: str | Path, tokenizer: Any, **config: Any) -> Any:
    """Build a 2-layer Llama sized for ``tokenizer`` and save it (with the tokenizer) to ``path``.

    ``config`` overrides any ``LlamaConfig`` field (e.g. ``tie_word_embeddings=True``).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    settings: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": 48,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "tie_word_embeddings": False,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": None,
    }
    settings.update(config)
    seed = settings.pop("seed", 0)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**settings))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(str(path), safe_serialization=True)
    tokenizer.save_pretrained(str(path))
    return model


_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_ANIMALS = ["cat", "dog", "bird", "fish"]
_COLORS = ["red", "blue", "green"]


def _chat_sample(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(3)
    if kind == 0:
        a, b = rng.randrange(5), rng.randrange(5)
        question = f"what is {_NUMBERS[a]} plus {_NUMBERS[b]} ?"
        answer = f"{_NUMBERS[a]} plus {_NUMBERS[b]} equals {_NUMBERS[a + b]} ."
    elif kind == 1:
        animal, color = rng.choice(_ANIMALS), rng.choice(_COLORS)
        question = f"what color is the {animal} ?"
        answer = f"the {animal} is {color} ." if rng.random() < 0.2 else f"the {animal} is red ."
    else:
        count = rng.randrange(1, 6)
        words = " ".join([rng.choice(_ANIMALS)] * count)
        question = f"how many are there in {words} ?"
        answer = f"there are {_NUMBERS[count]} ."
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    if rng.random() < 0.3:
        messages.insert(0, {"role": "system", "content": "you are a helpful assistant ."})
    return {"messages": messages}


def write_chat_jsonl(path: str | Path, n: int, *, seed: int = 0) -> Path:
    """Write ``n`` short, learnable chat samples (``messages`` records) to a JSONL file."""
    rng = random.Random(seed)
    target = Path(path)
    with target.open("w", encoding="utf-8") as handle:
        for _ in range(n):
            handle.write(json.dumps(_chat_sample(rng)) + "\n")
    return target


def smoke_training_params(folder: str | Path, **overrides: Any) -> dict[str, Any]:
    """A tiny model and chat data in ``folder``, and the parameters of a 2-step CPU run.

    What a plugin's contract test passes as ``smoke_params``; ``overrides`` add the
    algorithm's own parameters (e.g. ``unfreeze_rank_ratio=0.5``).
    """
    folder = Path(folder)
    tokenizer = make_tiny_tokenizer(folder / "tokenizer")
    make_tiny_model(folder / "model", tokenizer)
    data = write_chat_jsonl(folder / "chat.jsonl", 16)
    return {
        "model_path": str(folder / "model"), "data_path": str(data),
        "ckpt_output_dir": str(folder / "out"), "data_cache_dir": str(folder / "cache"),
        "max_steps": 2, "effective_batch_size": 4, "max_tokens_per_gpu": 512,
        "max_seq_len": 256, "learning_rate": 1e-3, "device": "cpu", "data_workers": 1,
        "tensorboard": False, "quiet": True, **overrides,
    }
