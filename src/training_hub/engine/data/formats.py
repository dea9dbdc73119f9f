"""The record formats of training data: the three built-in ones, detection and validation.

- chat: ``{"messages": [{"role": ..., "content": ...}, ...], "unmask": optional bool}``
- document: ``{"document": "..."}``: pretraining text, every token trained, EOS appended
- tokenized: ``{"input_ids": [...], "labels": optional [...]}``: -100 marks an ignored label

A format is an entry of the ``DATA_FORMATS`` registry (protocol:
``training_hub.components.DataFormat``); the three built-in ones are registered
there like a plugin's. Every record is checked before any tokenization, and all
problems are reported together (the first few with their file and line).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._errors import DataError
from ...components import AUTO_DATA_FORMAT, DataFormat
from ...registry import DATA_FORMATS
from .readers import Record

__all__ = [
    "ALLOWED_ROLES",
    "CHAT",
    "DOCUMENT",
    "TOKENIZED",
    "DataFormat",
    "cache_identity",
    "detect_format",
    "record_format",
    "resolve_format",
    "validate_records",
]

ALLOWED_ROLES = ("system", "user", "assistant", "tool")
IGNORE_INDEX = -100
_MAX_LISTED_PROBLEMS = 10
Sample = tuple[Sequence[int], Sequence[int]]


class ChatFormat:
    """``messages`` conversations rendered with the tokenizer's chat template; the loss is
    on the assistant turns unless ``unmask`` (the parameter or the record's field)."""

    detect_field = "messages"
    version = "1"

    def problem(self, record: dict[str, Any], *, vocab_size: int | None) -> str | None:
        return _chat_problem(record)

    def to_samples(
        self,
        records: Sequence[dict[str, Any]],
        tokenizer: Any,
        *,
        unmask: bool,
        locations: Sequence[str],
    ) -> list[Sample]:
        from .chat import tokenize_chats

        train_all = [unmask or bool(r.get("unmask")) for r in records]
        chats = tokenize_chats(tokenizer, [r["messages"] for r in records], train_all, locations)
        return [
            (ids, np.where(mask, np.asarray(ids, dtype=np.int64), IGNORE_INDEX))
            for ids, mask in chats
        ]


class DocumentFormat:
    """``document`` text for pretraining: every token is trained, EOS is appended."""

    detect_field = "document"
    version = "1"

    def problem(self, record: dict[str, Any], *, vocab_size: int | None) -> str | None:
        return _document_problem(record)

    def to_samples(
        self,
        records: Sequence[dict[str, Any]],
        tokenizer: Any,
        *,
        unmask: bool,
        locations: Sequence[str],
    ) -> list[Sample]:
        eos = tokenizer.eos_token_id
        if eos is None:
            raise DataError(
                "Document (pretraining) data needs a tokenizer with an eos_token to end each "
                "document; this tokenizer has none."
            )
        encoded = tokenizer([r["document"] for r in records], add_special_tokens=True)
        samples: list[Sample] = []
        for ids in encoded["input_ids"]:
            ids = list(ids) if ids and ids[-1] == eos else [*ids, eos]
            samples.append((ids, ids))
        return samples


class TokenizedFormat:
    """Pre-tokenized ``input_ids`` with optional ``labels`` (-100: no loss)."""

    detect_field = "input_ids"
    version = "1"

    def problem(self, record: dict[str, Any], *, vocab_size: int | None) -> str | None:
        return _tokenized_problem(record, vocab_size)

    def to_samples(
        self,
        records: Sequence[dict[str, Any]],
        tokenizer: Any,
        *,
        unmask: bool,
        locations: Sequence[str],
    ) -> list[Sample]:
        return [
            (r["input_ids"], r["input_ids"] if r.get("labels") is None else r["labels"])
            for r in records
        ]


CHAT = ChatFormat()
DOCUMENT = DocumentFormat()
TOKENIZED = TokenizedFormat()


def resolve_format(name: str) -> DataFormat:
    """The registered format ``name``; a DataError listing the installed ones otherwise."""
    if not DATA_FORMATS.has(name):
        raise DataError(
            f"Unknown data_format '{name}'; installed: {AUTO_DATA_FORMAT}, "
            f"{', '.join(DATA_FORMATS.list())}. A plugin adds formats with register_components."
        )
    fmt: DataFormat = DATA_FORMATS.build(name)
    return fmt


def _detectable() -> list[tuple[str, DataFormat]]:
    """Formats that data_format='auto' considers, built-in ones first."""
    found = []
    for name in DATA_FORMATS.list():
        fmt = resolve_format(name)
        if getattr(fmt, "detect_field", None):
            found.append((name, fmt))
    return found


def record_format(data: Any, formats: Sequence[tuple[str, DataFormat]] | None = None) -> str | None:
    """Name of the format a record looks like, from its fields; None when it matches none."""
    if not isinstance(data, dict):
        return None
    for name, fmt in _detectable() if formats is None else formats:
        if fmt.detect_field in data:
            return name
    return None


def detect_format(
    records: Sequence[Record], formats: Sequence[tuple[str, DataFormat]] | None = None
) -> str:
    """Name of the format of the data, from its first record."""
    formats = _detectable() if formats is None else formats
    first = records[0]
    if not isinstance(first.data, dict):
        raise DataError(
            f"{first.location}: a record must be a JSON object, got {type(first.data).__name__}."
        )
    found = record_format(first.data, formats)
    if found is None:
        fields = ", ".join(f"'{fmt.detect_field}' ({name})" for name, fmt in formats)
        raise DataError(
            f"{first.location}: cannot detect the data format: the record has none of the "
            f"fields {fields}; its fields are {sorted(first.data)}. Fix the record or set "
            "data_format."
        )
    return found


def cache_identity(data_format: str) -> str:
    """What of the format code goes into the cache key: the version of each format that
    may read the data (every detectable one for 'auto')."""
    if data_format == AUTO_DATA_FORMAT:
        named = _detectable()
    else:
        named = [(data_format, resolve_format(data_format))]
    return ",".join(f"{name}:{getattr(fmt, 'version', '')}" for name, fmt in named)


def validate_records(
    records: Sequence[Record], data_format: str = AUTO_DATA_FORMAT, *,
    vocab_size: int | None = None,
) -> str:
    """Check every record against ``data_format`` (or the detected one) and return its name.

    Raises one :class:`DataError` that lists the first problems with their
    location and says how many there are in total.
    """
    detected = data_format == AUTO_DATA_FORMAT
    formats = _detectable() if detected else []
    resolved = detect_format(records, formats) if detected else data_format
    fmt = resolve_format(resolved)
    problems: list[str] = []
    for record in records:
        problem = _record_problem(record, resolved, fmt, formats, vocab_size)
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
    record: Record,
    name: str,
    fmt: DataFormat,
    detectable: Sequence[tuple[str, DataFormat]],
    vocab_size: int | None,
) -> str | None:
    data = record.data
    if not isinstance(data, dict):
        return f"a record must be a JSON object, got {type(data).__name__}"
    if detectable:
        own_format = record_format(data, detectable)
        if own_format is not None and own_format != name:
            return (
                f"mixed formats: this record is {own_format} but the first record is {name}; "
                "one file must hold one format"
            )
    return fmt.problem(data, vocab_size=vocab_size)


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
