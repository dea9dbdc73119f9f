"""The prompts of a GRPO run: read, rendered, tokenized, split into training and held-out.

Each record has a ``prompt``: a string (used as it is) or a list of chat
messages, rendered with the tokenizer's chat template and a generation prompt.
Every other field is a *column* that reaches the reward functions as a keyword
argument (an ``answer``, test cases...). A prompt longer than
``max_prompt_length`` tokens is an error naming the record, never truncated.
The records come from ``data_path`` (a file, or a Hub data set already made a
local file by :func:`training_hub.hub.resolve_inputs`) or, as training_hub
0.11.2's ``tasks``, from a list of dicts given in the call.

training_hub 0.11.2's records work unchanged: a record with a ``question`` and
no ``prompt`` is the conversation ``[system_prompt, question, *context_messages]``
rendered with the chat template (its ``tools`` passed to the template, or, for a
template that does not render tools, written into the system message as 0.11.2's
verl backend did); one with ``target_tool_name`` and ``target_arguments`` is a
tool-call sample, whose default reward is ``tool_call``. A multi-turn trace
(``messages`` and no ``prompt``) is split into one such sample per assistant tool
call, the conversation before it as the context, as 0.11.2 did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from training_hub._errors import DataError, ParameterError
from training_hub.engine.data.readers import read_records

from .params import GRPOParams

__all__ = ["TOOL_CALL_TARGET", "Prompt", "PromptSet", "load_prompts", "split_trace"]

#: The columns of a training_hub 0.11.2 tool-call sample: the call the model should make.
TOOL_CALL_TARGET: Final = ("target_tool_name", "target_arguments")

#: How training_hub 0.11.2's verl backend showed the tools to a model whose chat template
#: does not render them: appended to the system message.
_TOOLS_INSTRUCTION: Final = (
    "\n\nYou have access to the following tools. To call a tool, respond with a JSON "
    'object in this format: {"name": "tool_name", "arguments": {"arg1": "value1"}}\n\n'
    "Tools:\n"
)


@dataclass(frozen=True)
class Prompt:
    """One prompt: its text as the model sees it, its token ids and its other columns."""

    text: str
    ids: tuple[int, ...]
    columns: dict[str, Any] = field(default_factory=dict)
    location: str = ""

    @property
    def is_tool_call(self) -> bool:
        """A training_hub 0.11.2 tool-call sample (the call it expects is in its columns)."""
        return all(name in self.columns for name in TOOL_CALL_TARGET)


@dataclass(frozen=True)
class PromptSet:
    train: list[Prompt]
    held_out: list[Prompt]


def _render(record_data: Any, location: str, tokenizer: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(record_data, dict) and "prompt" not in record_data and \
            "question" in record_data:
        return _render_question(record_data, location, tokenizer), dict(record_data)
    if not isinstance(record_data, dict) or "prompt" not in record_data:
        keys = sorted(record_data) if isinstance(record_data, dict) else type(record_data).__name__
        raise DataError(
            f"{location}: a GRPO record needs a 'prompt' (text, or a list of chat messages), "
            "or training_hub 0.11.2's 'question' (with system_prompt, tools, target_tool_name, "
            f"target_arguments) or multi-turn tool-call 'messages'; this one has {keys}."
        )
    columns = {k: v for k, v in record_data.items() if k != "prompt"}
    prompt = record_data["prompt"]
    if isinstance(prompt, str):
        return prompt, columns
    if isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m for m in prompt):
        return _apply_chat_template(tokenizer, prompt, None, location), columns
    raise DataError(
        f"{location}: 'prompt' must be a string or a list of chat messages "
        f"({{'role': ..., 'content': ...}}), got {type(prompt).__name__}."
    )


def _chat_template_source(tokenizer: Any, location: str) -> str:
    template = getattr(tokenizer, "chat_template", None)
    if template is None:
        raise DataError(
            f"{location}: the prompt is a chat conversation, but the tokenizer has no chat "
            "template. Use a tokenizer with one (tokenizer_path) or give prompts as text."
        )
    return template if isinstance(template, str) else " ".join(map(str, dict(template).values()))


def _apply_chat_template(tokenizer: Any, messages: list[dict[str, Any]],
                         tools: list[Any] | None, location: str) -> str:
    """``messages`` as the model sees them, with a generation prompt. Tools the template does
    not render are written into the system message (0.11.2's verl backend did the same)."""
    source = _chat_template_source(tokenizer, location)
    if tools and "tools" not in source:
        text = _TOOLS_INSTRUCTION + json.dumps(tools, indent=2)
        if messages and messages[0].get("role") == "system":
            system = messages[0]
            messages = [{**system, "content": str(system.get("content") or "") + text},
                        *messages[1:]]
        else:
            messages = [{"role": "system", "content": text.lstrip()}, *messages]
        tools = None
    if any(m.get("tool_calls") for m in messages) and "tool_calls" not in source:
        raise DataError(
            f"{location}: the conversation holds assistant tool calls, which the chat template "
            "of the tokenizer does not render. Use the model's own tokenizer (tokenizer_path) "
            "with a template that renders tool_calls, or give the prompt as text."
        )
    try:
        text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                             add_generation_prompt=True)
    except Exception as exc:  # a template that cannot render this conversation
        raise DataError(
            f"{location}: the chat template cannot render this conversation "
            f"({type(exc).__name__}: {exc}). Fix the messages or give the prompt as text."
        ) from None
    return str(text)


def _message_list(value: Any, name: str, location: str) -> list[dict[str, Any]]:
    if isinstance(value, str):  # 0.11.2 accepted JSON-encoded message lists
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataError(f"{location}: '{name}' is a string but not JSON.") from None
    if not isinstance(value, list) or not all(isinstance(m, dict) and "role" in m
                                              for m in value):
        raise DataError(
            f"{location}: '{name}' must be a list of chat messages ({{'role': ..., "
            f"'content': ...}}), got {type(value).__name__}."
        )
    for message in value:
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list) or not all(
                isinstance(c, dict) and isinstance(c.get("function"), dict) for c in calls):
            raise DataError(
                f"{location}: the tool_calls of a message in '{name}' must be a list of "
                "{'type': 'function', 'function': {'name': ..., 'arguments': ...}}."
            )
    return [_dict_arguments(m) for m in value]


def _dict_arguments(message: dict[str, Any]) -> dict[str, Any]:
    """A message with the arguments of its tool calls as dicts (chat templates iterate them),
    the deprecated ``function_call`` as ``tool_calls``."""
    calls = message.get("tool_calls")
    if not calls and isinstance(message.get("function_call"), dict):
        calls = [{"type": "function", "function": message["function_call"]}]
        message = {k: v for k, v in message.items() if k != "function_call"}
    if not calls:
        return message
    fixed = []
    for call in calls:
        function = dict(call.get("function", {})) if isinstance(call, dict) else {}
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                parsed = json.loads(arguments)
            except json.JSONDecodeError:
                parsed = None
            function["arguments"] = parsed if isinstance(parsed, dict) else {}
        fixed.append({**call, "function": function})
    return {**message, "tool_calls": fixed}


def _render_question(record: dict[str, Any], location: str, tokenizer: Any) -> str:
    """training_hub 0.11.2's record: [system_prompt, question, *context_messages]."""
    question = record["question"]
    if not isinstance(question, str):
        raise DataError(f"{location}: 'question' must be text, got {type(question).__name__}.")
    messages: list[dict[str, Any]] = []
    if "system_prompt" in record:
        messages.append({"role": "system", "content": str(record["system_prompt"] or "")})
    messages.append({"role": "user", "content": question})
    if record.get("context_messages"):
        messages += _message_list(record["context_messages"], "context_messages", location)
    tools = record.get("tools") or None
    if tools is not None and not isinstance(tools, list):
        raise DataError(f"{location}: 'tools' must be a list of tool definitions, got "
                        f"{type(tools).__name__}.")
    return _apply_chat_template(tokenizer, messages, tools, location)


def _first_call(message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    calls = message.get("tool_calls")
    if not calls:
        return None
    function = calls[0].get("function", {})
    return str(function.get("name", "")), function.get("arguments") or {}


def split_trace(record: dict[str, Any], location: str) -> list[tuple[dict[str, Any], str]]:
    """A multi-turn tool-call trace as one sample per assistant tool call (0.11.2's per-turn
    decomposition): the question, the system prompt, the ground-truth conversation before
    the call as ``context_messages`` and the call as ``target_tool_name``/``target_arguments``;
    the record's other fields are kept."""
    messages = _message_list(record["messages"], "messages", location)
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if not users:
        raise DataError(f"{location}: the tool-call trace in 'messages' has no user message.")
    first_user = users[0]
    others = {k: v for k, v in record.items() if k != "messages"}
    if messages[0]["role"] == "system":
        others["system_prompt"] = messages[0].get("content") or ""
    others["question"] = messages[first_user].get("content") or ""
    samples: list[tuple[dict[str, Any], str]] = []
    context: list[dict[str, Any]] = []
    for message in messages[first_user + 1 :]:
        call = _first_call(message) if message["role"] == "assistant" else None
        if call is not None:
            sample = {**others, "context_messages": list(context),
                      "target_tool_name": call[0], "target_arguments": call[1]}
            samples.append((sample, f"{location} (tool call {len(samples) + 1})"))
        context.append(message)
    if not samples:
        raise DataError(
            f"{location}: a record with 'messages' and no 'prompt' is read as a multi-turn "
            "tool-call trace (one sample per assistant tool call), but it has no assistant "
            "tool call. Give a chat prompt as 'prompt' instead."
        )
    return samples


def _read(path: str, tokenizer: Any, max_prompt_length: int, what: str) -> list[Prompt]:
    records = read_records(path)
    if not records:
        raise DataError(f"The prompt file {path} ({what}) holds no records.")
    return _tokenize([(r.data, r.location) for r in records], tokenizer, max_prompt_length)


def _samples(records: list[tuple[Any, str]]) -> list[tuple[Any, str]]:
    """The records, each multi-turn tool-call trace split into its samples."""
    samples: list[tuple[Any, str]] = []
    for data, location in records:
        if isinstance(data, dict) and "prompt" not in data and "messages" in data:
            samples += split_trace(data, location)
        else:
            samples.append((data, location))
    return samples


def _tokenize(records: list[tuple[Any, str]], tokenizer: Any, max_prompt_length: int
              ) -> list[Prompt]:
    prompts = []
    for data, location in _samples(records):
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
