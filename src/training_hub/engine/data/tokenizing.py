"""Turn validated records into token ids and shifted labels, in parallel worker processes.

Output per sample: ``input_ids`` and ``labels`` of equal length with
``labels[t]`` the target of ``input_ids[t]`` (labels are shifted left by one and
the last label of every sample is -100, so no sample predicts the next one).
Workers are started with ``spawn`` and run the top-level functions below.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._errors import DataError
from .formats import DataFormat, resolve_format
from .readers import Record

__all__ = [
    "IGNORE_INDEX",
    "PARALLEL_MIN_SAMPLES",
    "TokenizeOptions",
    "TokenizedArrays",
    "default_workers",
    "tokenize_records",
]

logger = logging.getLogger("training_hub.data")

IGNORE_INDEX = -100
#: Below this many samples one process tokenizes: each spawned worker spends about 2 s
#: importing transformers, more than it saves on small data (measured on 2 cores).
PARALLEL_MIN_SAMPLES = 10_000
_MAX_DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class TokenizeOptions:
    """Everything besides the tokenizer that changes the tokens (and so the cache key)."""

    data_format: str  # a name in DATA_FORMATS
    unmask: bool
    max_seq_len: int
    truncate: bool


@dataclass
class TokenizedArrays:
    """Samples concatenated: sample ``i`` is ``input_ids[offsets[i]:offsets[i + 1]]``."""

    input_ids: np.ndarray  # int32
    labels: np.ndarray  # int32, shifted
    offsets: np.ndarray  # int64, n + 1
    loss_tokens: np.ndarray  # int64, labels != -100 per sample
    original_lengths: np.ndarray  # int64, length before truncation


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, _MAX_DEFAULT_WORKERS))


def _tokenize_items(
    tokenizer: Any,
    items: Sequence[tuple[str, dict[str, Any]]],
    options: TokenizeOptions,
    fmt: DataFormat,
) -> TokenizedArrays:
    """Tokenize ``(location, record)`` pairs with ``fmt``; the unit of work of one process."""
    locations = [location for location, _ in items]
    records = [record for _, record in items]
    samples = []  # ids and unshifted target labels
    produced = fmt.to_samples(records, tokenizer, unmask=options.unmask, locations=locations)
    if len(produced) != len(records):
        raise DataError(
            f"The data format '{options.data_format}' made {len(produced)} samples from "
            f"{len(records)} records; it must make one per record."
        )
    for location, (ids, targets) in zip(locations, produced, strict=True):
        if len(ids) != len(targets) or not len(ids):
            raise DataError(
                f"{location}: the data format '{options.data_format}' made a sample with "
                f"{len(ids)} input_ids and {len(targets)} labels; they must be equal and "
                "non-zero."
            )
        samples.append((ids, np.asarray(targets, dtype=np.int64)))

    original_lengths = np.asarray([len(ids) for ids, _ in samples], dtype=np.int64)
    kept_ids, kept_labels = [], []
    for ids, targets in samples:
        if options.truncate:
            ids, targets = ids[: options.max_seq_len], targets[: options.max_seq_len]
        shifted = np.empty(len(targets), dtype=np.int32)
        shifted[:-1] = targets[1:]
        shifted[-1] = IGNORE_INDEX
        kept_ids.append(np.asarray(ids, dtype=np.int32))
        kept_labels.append(shifted)
    lengths = np.asarray([len(ids) for ids in kept_ids], dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    labels = np.concatenate(kept_labels) if kept_labels else np.zeros(0, np.int32)
    return TokenizedArrays(
        input_ids=np.concatenate(kept_ids) if kept_ids else np.zeros(0, np.int32),
        labels=labels,
        offsets=offsets,
        loss_tokens=np.asarray([(lab != IGNORE_INDEX).sum() for lab in kept_labels], np.int64),
        original_lengths=original_lengths,
    )


def _concatenate(parts: Sequence[TokenizedArrays]) -> TokenizedArrays:
    lengths = np.concatenate([np.diff(p.offsets) for p in parts])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return TokenizedArrays(
        input_ids=np.concatenate([p.input_ids for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        offsets=offsets,
        loss_tokens=np.concatenate([p.loss_tokens for p in parts]),
        original_lengths=np.concatenate([p.original_lengths for p in parts]),
    )


# --- worker processes (spawn-safe: top-level functions and a module global) -------------
_worker_tokenizer: Any = None


def _init_worker(tokenizer: Any) -> None:
    global _worker_tokenizer
    _worker_tokenizer = tokenizer
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _worker_task(
    task: tuple[Sequence[tuple[str, dict[str, Any]]], TokenizeOptions, DataFormat],
) -> TokenizedArrays:
    items, options, fmt = task
    return _tokenize_items(_worker_tokenizer, items, options, fmt)


def tokenize_records(
    records: Sequence[Record],
    tokenizer: Any,
    options: TokenizeOptions,
    *,
    workers: int | None = None,
) -> TokenizedArrays:
    """Tokenize validated records, in ``workers`` processes when there are many."""
    items = [(record.location, record.data) for record in records]
    fmt = resolve_format(options.data_format)
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(items) < PARALLEL_MIN_SAMPLES:
        return _tokenize_items(tokenizer, items, options, fmt)
    chunk_size = max(256, len(items) // (workers * 8) + 1)
    tasks = [(items[i : i + chunk_size], options, fmt) for i in range(0, len(items), chunk_size)]
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(tokenizer,)
        ) as pool:
            parts = list(pool.map(_worker_task, tasks))
    except BrokenProcessPool:
        # Typically a script without an `if __name__ == "__main__":` guard: spawned
        # workers re-run it and die. Tokenizing in this process still works.
        logger.warning(
            "Tokenizer worker processes failed to start (does the main script lack an "
            "`if __name__ == '__main__':` guard?); tokenizing in one process instead."
        )
        return _tokenize_items(tokenizer, items, options, fmt)
    return _concatenate(parts)
