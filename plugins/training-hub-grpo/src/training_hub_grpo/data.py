"""The prompts of a GRPO run: read, rendered, tokenized, split into training and held-out.

Each record has a ``prompt``: a string (used as it is) or a list of chat
messages, rendered with the tokenizer's chat template and a generation prompt.
Every other field is a *column* that reaches the reward functions as a keyword
argument (an ``answer``, test cases...). A prompt longer than
``max_prompt_length`` tokens is an error naming the record, never truncated.
The records come from ``data_path`` (a file, or a Hub data set already made a
local file by :func:`training_hub.hub.resolve_inputs`) or, as training_hub
0.11.2's ``tasks``, from a list of dicts given in the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training_hub._errors import DataError, ParameterError
from training_hub.engine.data.readers import read_records

from .params import GRPOParams

__all__ = ["Prompt", "PromptSet", "load_prompts"]


@dataclass(frozen=True)
class Prompt:
    """One prompt: its text as the model sees it, its token ids and its other columns."""

    text: str
    ids: tuple[int, ...]
    columns: dict[str, Any] = field(default_factory=dict)
    location: str = ""


@dataclass(frozen=True)
class PromptSet:
    train: list[Prompt]
    held_out: list[Prompt]


def _render(record_data: Any, location: str, tokenizer: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(record_data, dict) or "prompt" not in record_data:
        keys = sorted(record_data) if isinstance(record_data, dict) else type(record_data).__name__
        raise DataError(
            f"{location}: a GRPO record needs a 'prompt' (text, or a list of chat messages); "
            f"this one has {keys}."
        )
    columns = {k: v for k, v in record_data.items() if k != "prompt"}
    prompt = record_data["prompt"]
    if isinstance(prompt, str):
        return prompt, columns
    if isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m for m in prompt):
        if getattr(tokenizer, "chat_template", None) is None:
            raise DataError(
                f"{location}: the prompt is a list of chat messages, but the tokenizer has no "
                "chat template. Use a tokenizer with one (tokenizer_path) or give prompts as text."
            )
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        return str(text), columns
    raise DataError(
        f"{location}: 'prompt' must be a string or a list of chat messages "
        f"({{'role': ..., 'content': ...}}), got {type(prompt).__name__}."
    )


def _read(path: str, tokenizer: Any, max_prompt_length: int, what: str) -> list[Prompt]:
    records = read_records(path)
    if not records:
        raise DataError(f"The prompt file {path} ({what}) holds no records.")
    return _tokenize([(r.data, r.location) for r in records], tokenizer, max_prompt_length)


def _tokenize(records: list[tuple[Any, str]], tokenizer: Any, max_prompt_length: int
              ) -> list[Prompt]:
    prompts = []
    for data, location in records:
        text, columns = _render(data, location, tokenizer)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise DataError(f"{location}: the prompt is empty after tokenizing.")
        if len(ids) > max_prompt_length:
            raise DataError(
                f"{location}: the prompt has {len(ids)} tokens, more than "
                f"max_prompt_length={max_prompt_length}. Shorten the prompt, drop the record, "
                "or raise max_prompt_length."
            )
        prompts.append(Prompt(text, tuple(ids), columns, location))
    return prompts


def load_prompts(params: GRPOParams, tokenizer: Any) -> PromptSet:
    """Training prompts (``n_train``) and held-out prompts (``n_val`` or ``eval_data_path``)."""
    if params.tasks is not None:
        records = [(task, f"tasks[{i}]") for i, task in enumerate(params.tasks)]
        prompts = _tokenize(records, tokenizer, params.max_prompt_length)
    else:
        assert params.data_path is not None  # the schema requires one of the two
        prompts = _read(params.data_path, tokenizer, params.max_prompt_length, "data_path")
    n_val = params.n_val
    if params.n_train is not None:
        train = prompts[: params.n_train]
        held_out = prompts[params.n_train : params.n_train + n_val]
    else:
        train = prompts[: len(prompts) - n_val]
        held_out = prompts[len(prompts) - n_val :] if n_val else []
    if n_val and len(held_out) < n_val:
        raise ParameterError(
            f"n_val={n_val} held-out prompts were asked for, but {params.prompt_source} has "
            f"only {len(held_out)} after the {len(train)} training prompts. Lower n_val or "
            "n_train."
        )
    if not train:
        raise ParameterError(
            f"No training prompts are left in {params.prompt_source} ({len(prompts)} records, "
            f"n_val={n_val} held out). Lower n_val or add prompts."
        )
    if params.eval_data_path is not None:
        held_out = _read(params.eval_data_path, tokenizer, params.max_prompt_length,
                         "eval_data_path")
    longest = max(len(p.ids) for p in train) + params.max_tokens
    if longest > params.max_tokens_per_gpu:
        raise ParameterError(
            f"The longest prompt plus max_tokens is {longest} tokens, more than "
            f"max_tokens_per_gpu={params.max_tokens_per_gpu}: one prompt and its completion "
            "must fit in one micro-batch of the update. Raise max_tokens_per_gpu or lower "
            "max_tokens."
        )
    return PromptSet(train, held_out)
