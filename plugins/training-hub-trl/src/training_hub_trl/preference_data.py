"""Preference records for dpo: read with the engine's readers, validate, report by file:line.

Two formats, one per file:

- text: ``{"prompt": str, "chosen": str, "rejected": str}``
- chat: ``{"chosen": [messages], "rejected": [messages]}`` ending in an assistant
  turn, with an optional ``"prompt": [messages]`` (without it, TRL takes the
  shared leading turns as the prompt).

Other fields of a record are not used (as in the native readers).
"""

from __future__ import annotations

from typing import Any, Literal

from training_hub._errors import DataError
from training_hub.engine.data import ALLOWED_ROLES, Record, read_records

__all__ = ["PreferenceFormat", "read_preference_records"]

PreferenceFormat = Literal["text", "chat"]
_MAX_LISTED = 10


def read_preference_records(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for TRL (``prompt``/``chosen``/``rejected`` only) and each row's location."""
    records = read_records(path)
    if not records:
        raise DataError(f"{path}: holds no preference records.")
    first = records[0]
    expected = _record_format(first.data)
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    for record in records:
        problem = _problem(record, expected)
        if problem is not None:
            problems.append(f"{record.location}: {problem}")
            continue
        rows.append({key: record.data[key] for key in ("prompt", "chosen", "rejected")
                     if key in record.data})
    if problems:
        listed = "\n  ".join(problems[:_MAX_LISTED])
        more = len(problems) - _MAX_LISTED
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise DataError(
            f"{len(problems)} invalid preference record(s) in '{path}' (dpo needs "
            '{"prompt", "chosen", "rejected"} strings, or chat "chosen"/"rejected" message '
            f"lists):\n  {listed}{tail}"
        )
    return rows, [record.location for record in records]


def _record_format(data: Any) -> PreferenceFormat | None:
    if not isinstance(data, dict):
        return None
    return "chat" if isinstance(data.get("chosen"), list) else "text"


def _problem(record: Record, expected: PreferenceFormat | None) -> str | None:
    data = record.data
    if not isinstance(data, dict):
        return f"a record must be a JSON object, got {type(data).__name__}"
    missing = [key for key in ("chosen", "rejected") if key not in data]
    if missing:
        return f"missing field(s) {', '.join(repr(m) for m in missing)}"
    own = _record_format(data)
    if own != expected:
        return (
            f"mixed formats: this record is {own} but the first record is {expected}; one "
            "file must hold one format"
        )
    if own == "text":
        if "prompt" not in data:
            return "missing field 'prompt' (text records need prompt, chosen and rejected)"
        for key in ("prompt", "chosen", "rejected"):
            value = data[key]
            if not isinstance(value, str):
                return f"field '{key}' must be a string, got {type(value).__name__}"
            if not value.strip() and key != "prompt":
                return f"field '{key}' is empty"
        if data["chosen"] == data["rejected"]:
            return "'chosen' and 'rejected' are identical: the pair carries no preference"
        return None
    for key in ("prompt", "chosen", "rejected"):
        if key in data:
            problem = _messages_problem(data[key], key)
            if problem is not None:
                return problem
    for key in ("chosen", "rejected"):
        if data[key][-1]["role"] != "assistant":
            return f"the last message of '{key}' must be an assistant turn"
    if data["chosen"] == data["rejected"]:
        return "'chosen' and 'rejected' are identical: the pair carries no preference"
    return None


def _messages_problem(messages: Any, key: str) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"field '{key}' must be a non-empty list of {{role, content}} objects"
    for turn, message in enumerate(messages):
        where = f"{key}[{turn}]"
        if not isinstance(message, dict):
            return f"{where} must be an object with 'role' and 'content'"
        if message.get("role") not in ALLOWED_ROLES:
            return (
                f"{where}.role is {message.get('role')!r}; allowed roles are "
                f"{', '.join(ALLOWED_ROLES)}"
            )
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            return f"{where}.content must be a non-empty string"
    return None
