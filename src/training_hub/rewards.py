"""Reward functions for reinforcement learning (``grpo``, ``lora_grpo``): the built-ins.

Reward functions take TRL's signature, so functions written for TRL's
``GRPOTrainer`` work unchanged::

    def my_reward(prompts, completions, **columns) -> list[float | None]: ...

``prompts`` and ``completions`` are lists of strings (one entry per completion;
a prompt repeats for each completion of its group) and every other column of
the prompt file arrives as a keyword list of the same length. ``None`` means
"not applicable to this sample". The built-ins below are also registered in
the ``rewards`` component registry under the names in :data:`BUILTIN_REWARDS`.

``binary_reward`` and ``tool_call_reward`` keep the signatures of
training_hub 0.11.2, where they score one response; ``tool_call`` is the
TRL-signature reward built on ``tool_call_reward``. This module imports nothing
heavy (``math_verify`` only when ``math_answer`` is first called).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from ._errors import ParameterError

__all__ = [
    "BUILTIN_REWARDS",
    "binary_reward",
    "exact_match",
    "math_answer",
    "regex_match",
    "regex_reward",
    "think_format",
    "tool_call",
    "tool_call_reward",
]

RewardFunction = Callable[..., list[float | None]]

#: Columns that hold the reference answer, in the order they are looked for.
ANSWER_COLUMNS: Final = ("answer", "solution", "ground_truth")


def _answers(function: str, n: int, columns: dict[str, Any]) -> Sequence[Any]:
    for name in ANSWER_COLUMNS:
        values = columns.get(name)
        if values is not None:
            return list(values)
    raise ParameterError(
        f"Reward function '{function}' needs the reference answer of each prompt: add a column "
        f"named one of {', '.join(ANSWER_COLUMNS)} to the prompt file (it got the columns "
        f"{sorted(columns) or 'none'})."
    )


def _normalise(text: str) -> str:
    return " ".join(str(text).split()).strip().lower()


def exact_match(
    prompts: list[str], completions: list[str], **columns: Any
) -> list[float | None]:
    """1.0 when the completion equals the ``answer`` column (case and whitespace ignored)."""
    answers = _answers("exact_match", len(completions), columns)
    return [
        None if answer is None else float(_normalise(completion) == _normalise(answer))
        for completion, answer in zip(completions, answers, strict=True)
    ]


def regex_reward(pattern: str, *, flags: int = re.DOTALL) -> RewardFunction:
    """A reward function: 1.0 when the whole completion matches ``pattern`` (``re.fullmatch``)."""
    compiled = re.compile(pattern, flags)

    def reward(prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        return [float(compiled.fullmatch(c.strip()) is not None) for c in completions]

    reward.__name__ = f"regex_reward({pattern!r})"
    return reward


def regex_match(
    prompts: list[str], completions: list[str], **columns: Any
) -> list[float | None]:
    """1.0 when the completion matches the regular expression of the ``pattern`` column."""
    patterns = columns.get("pattern")
    if patterns is None:
        raise ParameterError(
            "Reward function 'regex' reads the regular expression of each prompt from a column "
            "named 'pattern'; add it to the prompt file, or pass "
            "training_hub.rewards.regex_reward(PATTERN) as reward_fn for one fixed pattern."
        )
    return [
        None if p is None else float(re.fullmatch(p, c.strip(), re.DOTALL) is not None)
        for c, p in zip(completions, patterns, strict=True)
    ]


_THINK_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def think_format(
    prompts: list[str], completions: list[str], **columns: Any
) -> list[float | None]:
    """1.0 for ``<think>...</think><answer>...</answer>`` completions (the R1 format)."""
    return [float(_THINK_FORMAT.fullmatch(c.strip()) is not None) for c in completions]


def math_answer(
    prompts: list[str], completions: list[str], **columns: Any
) -> list[float | None]:
    """1.0 when the completion's final answer equals the ``answer`` column mathematically
    (math-verify: LaTeX and plain expressions); needs ``pip install math-verify``."""
    try:
        from math_verify import parse, verify
    except ImportError:
        raise ParameterError(
            "Reward function 'math' needs the math-verify package: pip install math-verify "
            "(or pip install 'training-hub-grpo[math]')."
        ) from None
    answers = _answers("math", len(completions), columns)
    scores: list[float | None] = []
    for completion, answer in zip(completions, answers, strict=True):
        if answer is None:
            scores.append(None)
            continue
        gold = parse(str(answer) if "$" in str(answer) else f"${answer}$")
        if not gold:
            scores.append(None)  # an answer math-verify cannot read scores nothing
            continue
        scores.append(float(verify(gold, parse(completion))))
    return scores


# --- training_hub 0.11.2's reward helpers (same signatures) ---------------------------


def binary_reward(reward_value: float, threshold: float = 1.0) -> float:
    """1.0 if ``reward_value >= threshold`` (within 1e-6), else 0.0."""
    return 1.0 if reward_value >= threshold - 1e-6 else 0.0


def tool_call_reward(model_response: Any, expected_name: str, expected_args: dict[str, Any]
                     ) -> float:
    """Score one tool call: 1.0 right name and arguments, 0.5 right name only, 0.0 otherwise.

    ``model_response`` is an OpenAI ``Choice``/message object, a message dict
    (``tool_calls`` or ``function_call``), or text holding a JSON tool call
    (``{"name": ..., "arguments": {...}}``, optionally inside ``<tool_call>`` tags).
    """
    predicted_name, predicted_args = _extract_tool_call(model_response)
    if predicted_name is None or not _names_match(predicted_name, expected_name):
        return 0.0
    return 1.0 if _args_match(predicted_args, expected_args) else 0.5


def tool_call(
    prompts: list[str], completions: list[str], **columns: Any
) -> list[float | None]:
    """:func:`tool_call_reward` of each completion against the ``expected_name`` and
    ``expected_args`` columns (or training_hub 0.11.2's ``target_tool_name`` and
    ``target_arguments`` of its tool-call records)."""
    names, args = columns.get("expected_name"), columns.get("expected_args")
    if names is None and args is None:
        names, args = columns.get("target_tool_name"), columns.get("target_arguments")
    if names is None or args is None:
        raise ParameterError(
            "Reward function 'tool_call' needs the columns 'expected_name' and "
            "'expected_args' (or 'target_tool_name' and 'target_arguments') in the prompt "
            f"file (it got {sorted(columns) or 'none'})."
        )
    return [
        tool_call_reward(completion, name, arguments)
        for completion, name, arguments in zip(completions, names, args, strict=True)
    ]


def _parse_arguments(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


_TOOL_CALL_TEXT = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def _call_in_text(text: str) -> tuple[str | None, dict[str, Any]]:
    tagged = _TOOL_CALL_TEXT.search(text)
    candidate = tagged.group(1) if tagged else text.strip()
    start, end = candidate.find("{"), candidate.rfind("}")
    if start < 0 or end <= start:
        return None, {}
    try:
        call = json.loads(candidate[start : end + 1])
    except json.JSONDecodeError:
        return None, {}
    if not isinstance(call, dict):
        return None, {}
    if isinstance(call.get("function"), dict):
        call = call["function"]
    name = call.get("name")
    return (str(name) if name else None), _parse_arguments(call.get("arguments", {}))


def _extract_tool_call(message: Any) -> tuple[str | None, dict[str, Any]]:
    if isinstance(message, str):
        return _call_in_text(message)
    if hasattr(message, "message"):  # an OpenAI Choice
        message = message.message
    for attribute in ("tool_calls", "function_call"):
        value = getattr(message, attribute, None)
        if value:
            call = value[0].function if attribute == "tool_calls" else value
            return call.name, _parse_arguments(call.arguments)
    if isinstance(message, dict):
        if message.get("tool_calls"):
            function = message["tool_calls"][0].get("function", {})
            return function.get("name"), _parse_arguments(function.get("arguments", {}))
        if message.get("function_call"):
            function = message["function_call"]
            return function.get("name"), _parse_arguments(function.get("arguments", {}))
        if isinstance(message.get("content"), str):
            return _call_in_text(message["content"])
    return None, {}


def _canonical_name(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _names_match(predicted: str, expected: str) -> bool:
    p, e = _canonical_name(predicted), _canonical_name(expected)
    return p == e or p.endswith(e) or e.endswith(p)


def _normalise_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    return value.strip()


def _args_match(predicted: Any, expected: Any) -> bool:
    predicted, expected = _parse_arguments(predicted), _parse_arguments(expected)
    if not predicted or not expected:
        return not predicted and not expected
    try:
        left = json.dumps({k: _normalise_value(v) for k, v in predicted.items()}, sort_keys=True)
        right = json.dumps({k: _normalise_value(v) for k, v in expected.items()}, sort_keys=True)
    except (TypeError, ValueError):
        return False
    return left == right


#: Registry name -> import string of each built-in (registered in ``REWARDS``).
BUILTIN_REWARDS: Final = {
    "exact_match": f"{__name__}:exact_match",
    "regex": f"{__name__}:regex_match",
    "think_format": f"{__name__}:think_format",
    "tool_call": f"{__name__}:tool_call",
    "math": f"{__name__}:math_answer",
}
