"""Read training records from JSONL, JSON or Parquet files, each tagged with where it came from.

Every record keeps its origin (file and JSONL line number, JSON record index or
Parquet row), so that every later error can say exactly where to look.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..._errors import DataError

__all__ = ["SUPPORTED_SUFFIXES", "Record", "RecordKind", "format_location", "read_records"]

#: File endings this module can read.
SUPPORTED_SUFFIXES = (".jsonl", ".json", ".parquet")

#: How a record is addressed inside its file: a JSONL line (1-based), a JSON list
#: index (0-based) or a Parquet row (0-based).
RecordKind = Literal["line", "record", "row"]


def format_location(source: str, kind: RecordKind, index: int) -> str:
    """Address of a record: ``a.jsonl:12``, ``a.json record 3``, ``a.parquet row 3``."""
    if kind == "line":
        return f"{source}:{index}"
    return f"{source} {kind} {index}"


@dataclass(frozen=True)
class Record:
    """One training record and its origin."""

    source: str
    kind: RecordKind
    index: int
    data: Any  # a dict for valid records; anything else is reported by the validator

    @property
    def location(self) -> str:
        return format_location(self.source, self.kind, self.index)


def read_records(path: str | Path) -> list[Record]:
    """Read every record of ``path`` (.jsonl, .json or .parquet).

    Raises :class:`DataError` when the file is missing, has an unknown ending,
    holds malformed JSON (naming the line) or holds no records.
    """
    file = Path(path)
    source = str(path)
    if not file.is_file():
        raise DataError(f"Training data file {source} does not exist (data_path).")
    suffix = file.suffix.lower()
    if suffix == ".jsonl":
        records = _read_jsonl(file, source)
    elif suffix == ".json":
        records = _read_json(file, source)
    elif suffix == ".parquet":
        records = _read_parquet(file, source)
    else:
        raise DataError(
            f"Training data file {source} has the ending '{file.suffix}'; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}."
        )
    if not records:
        raise DataError(f"Training data file {source} holds no records; it is empty.")
    return records


def _read_jsonl(file: Path, source: str) -> list[Record]:
    records = []
    with file.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{source}:{line_number}: not valid UTF-8 (byte {exc.start + 1} of the line). "
                    "Save the file as UTF-8."
                ) from None
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{source}:{line_number}: malformed JSON ({exc.msg} at column {exc.colno}). "
                    "Each line of a .jsonl file must be one complete JSON object."
                ) from None
            except (ValueError, RecursionError) as exc:
                raise DataError(
                    f"{source}:{line_number}: JSON that cannot be read ({type(exc).__name__}: "
                    f"{exc}). Check that line of the file."
                ) from None
            records.append(Record(source, "line", line_number, data))
    return records


def _read_json(file: Path, source: str) -> list[Record]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{source}:{exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})."
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{source}: not valid UTF-8 (byte {exc.start + 1} of the file). Save it as UTF-8."
        ) from None
    except (ValueError, RecursionError) as exc:
        raise DataError(
            f"{source}: JSON that cannot be read ({type(exc).__name__}: {exc})."
        ) from None
    if isinstance(data, dict) and "data" in data:
        data = data["data"]
    if not isinstance(data, list):
        raise DataError(
            f"{source}: a .json training file must hold a list of records or "
            '{"data": [records]}, not a ' + type(data).__name__ + "."
        )
    return [Record(source, "record", index, item) for index, item in enumerate(data)]


def _read_parquet(file: Path, source: str) -> list[Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"Reading {source} needs pyarrow; install it with `pip install pyarrow` "
            "(or the training-hub[parquet] extra)."
        ) from None
    try:
        rows = pq.read_table(file).to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{source}: cannot read the Parquet file ({exc}).") from None
    return [Record(source, "row", index, row) for index, row in enumerate(rows)]
