"""Builders of the data-pipeline tests: a tiny byte-level BPE tokenizer with chat templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

IGNORE_INDEX = -100

#: ChatML without {% generation %} markers: the usual case in the wild.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Llama-3 shaped, with a BOS and a default system prompt when the data has none.
LLAMA3_DEFAULT_SYSTEM = (
    "{{ bos_token }}{% if messages[0]['role'] != 'system' %}"
    "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful bot.<|eot_id|>{% endif %}"
    "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

#: Renders the number of messages first, so a shorter conversation is never a prefix.
NOT_INCREMENTAL = "{{ messages | length }}" + CHATML

SPECIAL_TOKENS = [
    "<unk>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
]
_CORPUS = [
    "hello there friend, how are you today?",
    "the quick brown fox jumps over the lazy dog",
    "fine thanks. what is two plus two? it is four.",
    "system user assistant tool be nice and short",
]


def make_tokenizer(template: str = CHATML) -> Any:
    """A ~300-token byte-level BPE tokenizer trained in memory, as transformers loads it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(_CORPUS * 5, trainer)
    llama = template is LLAMA3_DEFAULT_SYSTEM
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>" if llama else "<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = template
    return tokenizer


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def chat(*turns: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


def trained_spans(tokenizer: Any, labels: np.ndarray) -> list[str]:
    """Decoded text of every run of consecutive labels that carry loss."""
    spans, run = [], []
    for label in [*labels.tolist(), IGNORE_INDEX]:
        if label != IGNORE_INDEX:
            run.append(label)
        elif run:
            spans.append(tokenizer.decode(run))
            run = []
    return spans
