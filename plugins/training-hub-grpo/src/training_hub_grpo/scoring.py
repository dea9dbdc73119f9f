"""Reward functions: resolve what the user named, call them, check what they return.

``reward_fn`` entries are callables, ``pkg.module:function`` import strings, or
names of the ``rewards`` component registry (built-ins of
:mod:`training_hub.rewards`, and whatever plugins register). Each is called
once per batch with TRL's signature ``f(prompts, completions, **columns)``. A
function that raises, returns the wrong number of values or a value that is
not a number (or None) stops the run with an error naming the function and
the sample: a silent zero would train on a wrong signal.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from training_hub._errors import ParameterError

from .params import reward_name

__all__ = ["RewardError", "RewardFunction", "resolve_rewards", "run_rewards", "score"]

#: The reward of training_hub 0.11.2's tool-call records when no reward_fn is given, as there.
TOOL_CALL_REWARD = "tool_call"


class RewardError(ParameterError):
    """A reward function failed or returned something unusable."""


@dataclass(frozen=True)
class RewardFunction:
    name: str
    function: Callable[..., Any]
    weight: float


def _import(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ParameterError(
            f"reward_fn {spec!r} cannot be imported ({type(exc).__name__}: {exc}). Check that "
            "the module is installed or on PYTHONPATH and the function name is right."
        ) from None
    return value


def _resolve_one(spec: Any) -> Callable[..., Any]:
    if callable(spec):
        _refuse_peer_signature(spec, spec)
        return spec  # type: ignore[no-any-return]
    if ":" in spec:
        value = _import(spec)
    else:
        from training_hub.registry import REWARDS

        try:
            value = REWARDS.get(spec)()
        except KeyError:
            raise ParameterError(
                f"reward_fn {spec!r} is neither an import string ('pkg.module:function') nor a "
                f"name of the rewards registry ({', '.join(sorted(REWARDS.list()))})."
            ) from None
        if isinstance(value, str):  # registered as an import string (light plugins)
            value = _import(value)
    if not callable(value):
        raise ParameterError(f"reward_fn {spec!r} is {value!r}, which is not callable.")
    _refuse_peer_signature(spec, value)
    return value  # type: ignore[no-any-return]


#: training_hub 0.11.2's reward signatures (verl's and ART's), by their parameter names, and
#: the TRL-signature wrapper that moves each to this project.
_PEER_SIGNATURES: dict[tuple[str, ...], str] = {
    ("data_source", "solution_str", "ground_truth"):
        "lambda prompts, completions, ground_truth, **_: [fn('generic', c, g) for c, g in "
        "zip(completions, ground_truth)]",
    ("model_response", "expected_name", "expected_args"):
        "lambda prompts, completions, target_tool_name, target_arguments, **_: [fn(c, n, a) "
        "for c, n, a in zip(completions, target_tool_name, target_arguments)]",
}
_PEER_SIGNATURES[("response", "expected_name", "expected_args")] = \
    _PEER_SIGNATURES[("model_response", "expected_name", "expected_args")]


def _refuse_peer_signature(spec: Any, function: Callable[..., Any]) -> None:
    """A reward function written for training_hub 0.11.2 (one sample per call) is refused
    before training, with the wrapper that gives it TRL's signature."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return
    names = tuple(name for name, p in parameters.items()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))[:3]
    wrapper = _PEER_SIGNATURES.get(names)
    if wrapper is not None:
        raise ParameterError(
            f"reward_fn {reward_name(spec, import_path=True)} has training_hub 0.11.2's "
            f"signature ({', '.join(names)}), scoring one sample per call; here reward "
            "functions take TRL's f(prompts, completions, **columns) -> list of floats. "
            f"Wrap it: reward_fn={wrapper} (see docs/grpo.md)."
        )


def resolve_rewards(specs: Sequence[Any], weights: Sequence[float] | None) -> list[RewardFunction]:
    """The reward functions of a run, with their names (for metrics) and weights."""
    weights = list(weights) if weights is not None else [1.0] * len(specs)
    functions = []
    seen: dict[str, int] = {}
    for spec, weight in zip(specs, weights, strict=True):
        name = reward_name(spec)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        functions.append(RewardFunction(name, _resolve_one(spec), float(weight)))
    return functions


def run_rewards(params: Any, prompts: Sequence[Any]) -> list[RewardFunction]:
    """The reward functions of a run on ``prompts``: ``reward_fn``, or, when it is None and
    every prompt is a tool-call sample of training_hub 0.11.2 (``target_tool_name``,
    ``target_arguments``), the ``tool_call`` reward, the default there."""
    if params.reward_fn is not None:
        return resolve_rewards(params.reward_fn, params.reward_weights)
    other = next((p for p in prompts if not p.is_tool_call), None)
    if other is not None:
        raise ParameterError(
            f"reward_fn is not given, and {other.location} is not a tool-call record (one with "
            "target_tool_name and target_arguments, whose default reward is tool_call): give "
            "reward_fn, e.g. reward_fn='exact_match' or 'mypkg.rewards:my_reward'."
        )
    return resolve_rewards([TOOL_CALL_REWARD], None)


def _describe(prompts: Sequence[str], completions: Sequence[str], index: int) -> str:
    prompt, completion = prompts[index][:80], completions[index][:80]
    return f"sample {index} (prompt {prompt!r}, completion {completion!r})"


def score(
    functions: Sequence[RewardFunction],
    prompts: Sequence[str],
    completions: Sequence[str],
    columns: dict[str, list[Any]],
) -> list[list[float]]:
    """``scores[f][i]``: reward of function ``f`` for completion ``i`` (NaN for None)."""
    n = len(completions)
    table = []
    for reward in functions:
        try:
            values = reward.function(list(prompts), list(completions), **columns)
        except ParameterError:
            raise
        except Exception as exc:
            raise RewardError(
                f"Reward function '{reward.name}' raised {type(exc).__name__}: {exc} on a batch "
                f"of {n} completions (first: {_describe(prompts, completions, 0)}). Fix the "
                "function; it receives (prompts, completions, **columns) as lists."
            ) from exc
        try:
            values = list(values)
        except TypeError:
            raise RewardError(
                f"Reward function '{reward.name}' returned {type(values).__name__}, not a list "
                f"of {n} floats (one per completion)."
            ) from None
        if len(values) != n:
            raise RewardError(
                f"Reward function '{reward.name}' returned {len(values)} values for {n} "
                "completions: it must return one float (or None) per completion, in order."
            )
        row = []
        for index, value in enumerate(values):
            if value is None:
                row.append(math.nan)
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise RewardError(
                    f"Reward function '{reward.name}' returned {value!r} for "
                    f"{_describe(prompts, completions, index)}: expected a float or None."
                ) from None
            if not math.isfinite(number):
                raise RewardError(
                    f"Reward function '{reward.name}' returned {number} for "
                    f"{_describe(prompts, completions, index)}: rewards must be finite "
                    "(return None for 'not applicable')."
                )
            row.append(number)
        table.append(row)
    return table

