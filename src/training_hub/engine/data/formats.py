"""The three record formats, their detection and their validation.

- chat: ``{"messages": [{"role": ..., "content": ...}, ...], "unmask": optional bool}``
- document: ``{"document": "..."}``: pretraining text, every token trained, EOS appended
- tokenized: ``{"input_ids": [...], "labels": optional [...]}``: -100 marks an ignored label

Every record is checked before any tokenization, and all problems are reported
together (the first few with their file and line).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ..._errors import DataError
from .readers import Record

__all__ = [
    "ALLOWED_ROLES",
    "DataFormat",
    "detect_format",
    "record_format",
    "validate_records",
]

DataFormat = Literal["chat", "document", "tokenized"]

ALLOWED_ROLES = ("system", "user", "assistant", "tool")

#: The key that identifies each format, in the order they are looked for.
_FORMAT_KEYS: tuple[tuple[str, DataFormat], ...] = (
    ("messages", "chat"),
    ("document", "document"),
    ("input_ids", "tokenized"),
)
_MAX_LISTED_PROBLEMS = 10


def record_format(data: Any) -> DataFormat | None:
    """Format a record looks like, from its keys; None when it matches none."""
    if not isinstance(data, dict):
        return None
    for key, data_format in _FORMAT_KEYS:
        if key in data:
            return data_format
    return None


def detect_format(records: Sequence[Record]) -> DataFormat:
    """Format of the data, from its first record."""
    first = records[0]
    if not isinstance(first.data, dict):
        raise DataError(
            f"{first.location}: a record must be a JSON object, got {type(first.data).__name__}."
        )
    found = record_format(first.data)
    if found is None:
        raise DataError(
            f"{first.location}: cannot detect the data format: the record has none of the "
            "fields 'messages' (chat), 'document' (pretraining text) or 'input_ids' "
            f"(pre-tokenized); its fields are {sorted(first.data)}. Fix the record or set "
            "data_format."
        )
    return found


def validate_records(
    records: Sequence[Record], data_format: str = "auto", *, vocab_size: int | None = None
) -> DataFormat:
    """Check every record against ``data_format`` (or the detected one) and return the format.

    Raises one :class:`DataError` that lists the first problems with their
    location and says how many there are in total.
    """
    resolved: DataFormat = detect_format(records) if data_format == "auto" else data_format  # type: ignore[assignment]
    if resolved not in ("chat", "document", "tokenized"):
        raise DataError(
            f"Unknown data_format '{data_format}'; use auto, chat, document or tokenized."
        )
    problems: list[str] = []
    for record in records:
        problem = _record_problem(record, resolved, data_format == "auto", vocab_size)
        if problem is not None:
            problems.append(f"{record.location}: {problem}")
    if problems:
        listed = "\n  ".join(problems[:_MAX_LISTED_PROBLEMS])
        more = len(problems) - _MAX_LISTED_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise DataError(
            f"{len(problems)} invalid record(s) in the {resolved} training data:\n  {listed}{tail}"
        )
    return resolved


def _record_problem(
    record: Record, data_format: DataFormat, detected: bool, vocab_size: int | None
) -> str | None:
    data = record.data
    if not isinstance(data, dict):
        return f"a record must be a JSON object, got {type(data).__name__}"
    own_format = record_format(data)
    if detected and own_format is not None and own_format != data_format:
        return (
            f"mixed formats: this record is {own_format} but the first record is {data_format}; "
            "one file must hold one format"
        )
    if data_format == "chat":
        return _chat_problem(data)
    if data_format == "document":
        return _document_problem(data)
    return _tokenized_problem(data, vocab_size)


def _chat_problem(data: dict[str, Any]) -> str | None:
    if "messages" not in data:
        return "missing field 'messages' (a chat record needs a list of messages)"
    messages = data["messages"]
    if not isinstance(messages, list) or not messages:
        return "field 'messages' must be a non-empty list of {role, content} objects"
    for turn, message in enumerate(messages):
        where = f"messages[{turn}]"
        if not isinstance(message, dict):
            return f"{where} must be an object with 'role' and 'content'"
        role = message.get("role")
        if role not in ALLOWED_ROLES:
            return f"{where}.role is {role!r}; allowed roles are {', '.join(ALLOWED_ROLES)}"
        content = message.get("content")
        if not isinstance(content, str):
            return f"{where}.content must be a string, got {type(content).__name__}"
        if not content.strip():
            return f"{where}.content is empty"
        if not _is_encodable(content):
            return f"{where}.content holds a lone surrogate (invalid Unicode); fix the text"
    unmask = data.get("unmask")
    if unmask is not None and not isinstance(unmask, bool):
        return f"field 'unmask' must be true or false, got {unmask!r}"
    return None


def _document_problem(data: dict[str, Any]) -> str | None:
    if "document" not in data:
        return "missing field 'document' (a pretraining record needs the text)"
    document = data["document"]
    if not isinstance(document, str):
        return f"field 'document' must be a string, got {type(document).__name__}"
    if not document.strip():
        return "field 'document' is empty"
    if not _is_encodable(document):
        return "field 'document' holds a lone surrogate (invalid Unicode); fix the text"
    return None


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_token_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def _tokenized_problem(data: dict[str, Any], vocab_size: int | None) -> str | None:
    if "input_ids" not in data:
        return "missing field 'input_ids' (a pre-tokenized record needs token ids)"
    input_ids = data["input_ids"]
    if not _is_token_list(input_ids) or not input_ids:
        return "field 'input_ids' must be a non-empty list of integers"
    bad = [v for v in input_ids if v < 0 or (vocab_size is not None and v >= vocab_size)]
    if bad:
        return f"field 'input_ids' holds token id {bad[0]} outside the vocabulary [0, {vocab_size})"
    labels = data.get("labels")
    if labels is None:
        return None
    if not _is_token_list(labels):
        return "field 'labels' must be a list of integers (-100 for tokens without loss)"
    if len(labels) != len(input_ids):
        return f"field 'labels' has {len(labels)} entries but 'input_ids' has {len(input_ids)}"
    bad = [
        v for v in labels if v != -100 and (v < 0 or (vocab_size is not None and v >= vocab_size))
    ]
    if bad:
        return f"field 'labels' holds {bad[0]}; use a token id or -100"
    return None
