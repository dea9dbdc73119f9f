"""Check a pre-tokenized JSON/JSONL file before mini-trainer reads it.

mini-trainer reads ``input_ids``/``labels`` records and, called through its
``run_training``, applies no length limit. This check gives the backend the
native engine's contract: every record has both lists of equal length, and a
record longer than ``max_seq_len`` is an error naming its file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from training_hub._errors import DataError

__all__ = ["check_tokenized_file"]


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    if path.suffix == ".json":
        try:
            records = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}).") from exc
        if not isinstance(records, list):
            raise DataError(f"{path}: expected a JSON list of records, got "
                            f"{type(records).__name__}.")
        yield from ((index + 1, record) for index, record in enumerate(records))
        return
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc.msg}).") from exc


def check_tokenized_file(data_path: str, max_seq_len: int) -> int:
    """Number of records in ``data_path``; :class:`DataError` on the first bad one."""
    path = Path(data_path)
    if path.suffix not in (".jsonl", ".json"):
        raise DataError(
            f"{path}: backend 'mini-trainer' reads pre-tokenized .jsonl or .json files; "
            "convert the data, or use the native backend, which also reads chat and parquet."
        )
    if not path.is_file():
        raise DataError(f"{path}: no such file (data_path).")
    count = 0
    for where, record in _records(path):
        if not isinstance(record, dict) or "input_ids" not in record or "labels" not in record:
            raise DataError(
                f"{path}:{where}: backend 'mini-trainer' needs pre-tokenized records with "
                "`input_ids` and `labels` lists (labels -100 where no loss is taken). Use "
                "the native backend for chat or document data."
            )
        length = len(record["input_ids"])
        if len(record["labels"]) != length:
            raise DataError(f"{path}:{where}: `labels` has {len(record['labels'])} entries "
                            f"and `input_ids` {length}; they must be equally long.")
        if length > max_seq_len:
            raise DataError(f"{path}:{where}: sample of {length} tokens is longer than "
                            f"max_seq_len={max_seq_len}; raise max_seq_len or shorten it.")
        count += 1
    if count == 0:
        raise DataError(f"{path}: holds no records.")
    return count
