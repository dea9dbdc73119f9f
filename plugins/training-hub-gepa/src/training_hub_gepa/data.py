"""Examples for GEPA: read a .jsonl/.json file or take a list, check the records' shape.

The default adapter (no ``adapter`` given) needs records with ``input`` and
``answer`` (training_hub 0.11.2's format); ``additional_context`` is optional
(an empty mapping when absent). With a custom adapter the records are passed
through unchanged, whatever their shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training_hub import DataError

__all__ = ["load_examples", "read_examples_file"]


def read_examples_file(path: str, parameter: str) -> list[Any]:
    """The records of a .jsonl file (one JSON object per line) or a .json list."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"{parameter} file {path} does not exist. Check the path.")
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {exc.lineno}: invalid JSON ({exc.msg}).") from None
        if not isinstance(records, list):
            raise DataError(f"{path} must hold a JSON list of examples, not a "
                            f"{type(records).__name__}.")
        return records
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}, line {number}: invalid JSON ({exc.msg}). Each line of a .jsonl file "
                "is one JSON object."
            ) from None
    return records


def load_examples(source: str | list[Any], parameter: str, *, default_adapter: bool) -> list[Any]:
    """Examples from a file path or a list; for the default adapter, checked and normalised."""
    where = f"{source}" if isinstance(source, str) else f"'{parameter}'"
    records = read_examples_file(source, parameter) if isinstance(source, str) else list(source)
    if not records:
        raise DataError(f"{where} holds no examples. GEPA needs at least one.")
    if not default_adapter:
        return records
    examples = []
    for index, record in enumerate(records):
        place = f"{where}, example {index + 1}"
        if not isinstance(record, dict):
            raise DataError(f"{place} is a {type(record).__name__}, not a record with "
                            "'input' and 'answer'.")
        missing = [key for key in ("input", "answer") if key not in record]
        if missing:
            raise DataError(
                f"{place} lacks {' and '.join(repr(k) for k in missing)} (it has "
                f"{sorted(record)}). The default evaluator needs 'input' and 'answer'; for "
                "other shapes give your own adapter."
            )
        context = record.get("additional_context") or {}
        if not isinstance(context, dict):
            raise DataError(f"{place}: 'additional_context' must be a mapping, not "
                            f"{type(context).__name__}.")
        examples.append({**record, "input": str(record["input"]),
                         "answer": str(record["answer"]), "additional_context": context})
    return examples
