"""The tokenized dataset and the one call that builds it: read, validate, tokenize, cache.

All checks run here, before training starts: malformed records, samples longer
than ``max_seq_len`` (an error unless ``truncate``), and data in which no token
carries loss. Truncated and zero-loss samples are reported as warnings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._errors import DataError
from .cache import (
    cache_key,
    default_cache_dir,
    file_sha256,
    load_entry,
    save_entry,
    tokenizer_fingerprint,
)
from .formats import cache_identity, validate_records
from .peer import field_names_of, pack_into_blocks, rename_fields
from .readers import RecordKind, format_location, read_records
from .stats import DatasetStats, dataset_stats
from .tokenizing import IGNORE_INDEX, TokenizedArrays, TokenizeOptions, tokenize_records

if TYPE_CHECKING:
    from ...training_params import TrainingParams

__all__ = ["TokenizedDataset", "load_data_file", "load_training_data", "tokenize_dataset"]

logger = logging.getLogger("training_hub.data")

_UNLIMITED = 2**62  # max_seq_len of documents that are cut into blocks
_ARRAYS = ("input_ids", "labels", "offsets", "loss_tokens", "original_lengths", "record_index")
_LISTED = 5


class TokenizedDataset:
    """Tokenized samples stored as concatenated arrays (memory-mapped when loaded from cache).

    Sample ``i`` is ``input_ids[offsets[i]:offsets[i + 1]]`` with its labels at
    the same positions; labels are already shifted (``labels[t]`` is the target
    of ``input_ids[t]``; -100 carries no loss; the last label of a sample is -100).
    """

    def __init__(
        self,
        arrays: TokenizedArrays,
        *,
        record_index: np.ndarray | None = None,
        source: str = "<memory>",
        record_kind: RecordKind = "record",
        data_format: str = "tokenized",
        max_seq_len: int | None = None,
        truncate: bool = False,
        from_cache: bool = False,
        cache_path: Path | None = None,
    ) -> None:
        self.input_ids = arrays.input_ids
        self.labels = arrays.labels
        self.offsets = arrays.offsets
        self.loss_tokens = arrays.loss_tokens
        self.original_lengths = arrays.original_lengths
        count = len(arrays.offsets) - 1
        self.record_index = np.arange(count) if record_index is None else record_index
        self.source = source
        self.record_kind: RecordKind = record_kind
        self.data_format = data_format
        self.max_seq_len = (
            int(arrays.original_lengths.max(initial=0)) if max_seq_len is None else max_seq_len
        )
        self.truncate = truncate
        #: True when the samples came from the on-disk cache (nothing was tokenized).
        self.from_cache = from_cache
        self.cache_path = cache_path

    @classmethod
    def from_samples(
        cls, samples: Sequence[tuple[Sequence[int], Sequence[int]]]
    ) -> TokenizedDataset:
        """Build from ``(input_ids, shifted_labels)`` pairs, e.g. in tests."""
        ids = [np.asarray(i, dtype=np.int32) for i, _ in samples]
        labels = [np.asarray(lab, dtype=np.int32) for _, lab in samples]
        lengths = np.asarray([len(i) for i in ids], dtype=np.int64)
        if any(len(i) != len(lab) for i, lab in zip(ids, labels, strict=True)):
            raise ValueError("every sample needs as many labels as input ids")
        offsets = np.zeros(len(samples) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        empty = np.zeros(0, np.int32)
        arrays = TokenizedArrays(
            input_ids=np.concatenate(ids) if ids else empty,
            labels=np.concatenate(labels) if labels else empty,
            offsets=offsets,
            loss_tokens=np.asarray([(lab != IGNORE_INDEX).sum() for lab in labels], np.int64),
            original_lengths=lengths,
        )
        return cls(arrays)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @cached_property
    def lengths(self) -> np.ndarray:
        """Tokens per sample (int64)."""
        return np.diff(self.offsets)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, labels)`` of one sample."""
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.input_ids[start:end], self.labels[start:end]

    def location(self, index: int) -> str:
        """Where sample ``index`` came from, e.g. ``train.jsonl:12``."""
        return format_location(self.source, self.record_kind, int(self.record_index[index]))

    @cached_property
    def stats(self) -> DatasetStats:
        return dataset_stats(self)


def _check_and_report(dataset: TokenizedDataset) -> None:
    """Raise for problems that stop training; warn about what is trained differently."""
    stats = dataset.stats
    over = np.nonzero(dataset.original_lengths > dataset.max_seq_len)[0]
    if over.size and not dataset.truncate:
        listed = ", ".join(
            f"{dataset.location(int(i))} ({dataset.original_lengths[i]} tokens)"
            for i in over[:_LISTED]
        )
        raise DataError(
            f"{over.size} sample(s) are longer than max_seq_len={dataset.max_seq_len} tokens, "
            f"e.g. {listed}. Raise max_seq_len, shorten these samples, or set truncate=true to "
            "cut them (reported, never silent)."
        )
    if stats.loss_tokens == 0:
        raise DataError(
            f"No token of {dataset.source} carries loss: every sample's label mask is empty "
            "(chat samples without assistant turns?). Add assistant turns, set unmask=true, "
            "or check the labels of pre-tokenized data."
        )
    if over.size:
        logger.warning(
            "Truncated %d of %d samples to max_seq_len=%d tokens (first: %s).",
            over.size,
            len(dataset),
            dataset.max_seq_len,
            ", ".join(dataset.location(int(i)) for i in over[:_LISTED]),
        )
    if stats.zero_loss_samples:
        logger.warning(
            "%d of %d samples have no token that carries loss and teach nothing (first: %s).",
            stats.zero_loss_samples,
            len(dataset),
            ", ".join(stats.zero_loss_locations),
        )


def tokenize_dataset(
    data_path: str | Path,
    tokenizer: Any,
    *,
    data_format: str = "auto",
    unmask: bool = False,
    max_seq_len: int = 2048,
    truncate: bool = False,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    field_names: Mapping[str, str] | None = None,
) -> TokenizedDataset:
    """Read, validate and tokenize ``data_path``, reusing the on-disk cache when it matches.

    ``field_names`` (``{name in the file: name the format reads}``) renames fields of
    the records first (training_hub 0.11.2's ``field_messages``...: see ``peer``).
    Raises :class:`DataError` for every problem, with the file and line.
    """
    source = str(data_path)
    if not Path(data_path).is_file():
        raise DataError(f"Training data file {source} does not exist (data_path).")
    options = {
        "data_format": data_format,
        "format_versions": cache_identity(data_format),
        "unmask": unmask,
        "max_seq_len": max_seq_len,
        "truncate": truncate,
        **({"field_names": dict(sorted(field_names.items()))} if field_names else {}),
    }
    key = cache_key(file_sha256(data_path), tokenizer_fingerprint(tokenizer), options)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = folder / key
    loaded = load_entry(entry, _ARRAYS)
    if loaded is not None:
        arrays, meta = loaded
        dataset = TokenizedDataset(
            TokenizedArrays(**{name: arrays[name] for name in _ARRAYS[:-1]}),
            record_index=arrays["record_index"],
            source=source,
            record_kind=meta["record_kind"],
            data_format=meta["data_format"],
            max_seq_len=max_seq_len,
            truncate=truncate,
            from_cache=True,
            cache_path=entry,
        )
        _check_and_report(dataset)
        return dataset

    records = rename_fields(read_records(data_path), field_names or {})
    resolved = validate_records(records, data_format, vocab_size=len(tokenizer))
    tokenized = tokenize_records(
        records,
        tokenizer,
        TokenizeOptions(resolved, unmask, max_seq_len, truncate),
        workers=workers,
    )
    dataset = TokenizedDataset(
        tokenized,
        record_index=np.asarray([r.index for r in records], dtype=np.int64),
        source=source,
        record_kind=records[0].kind,
        data_format=resolved,
        max_seq_len=max_seq_len,
        truncate=truncate,
        cache_path=entry,
    )
    _check_and_report(dataset)
    save_entry(
        entry,
        {name: getattr(dataset, name) for name in _ARRAYS},
        {
            "data_format": resolved,
            "record_kind": dataset.record_kind,
            "source": source,
            "options": options,
        },
    )
    return dataset


def load_training_data(params: TrainingParams, tokenizer: Any) -> TokenizedDataset:
    """The data of a training run: :func:`tokenize_dataset` with the run's parameters;
    with ``is_pretraining`` the documents cut into blocks of ``block_size`` tokens."""
    return load_data_file(params.data_path, params, tokenizer)


def load_data_file(path: str | Path, params: TrainingParams, tokenizer: Any) -> TokenizedDataset:
    """:func:`load_training_data` for another file of the run (its validation data)."""
    pretraining = params.is_pretraining and params.block_size is not None
    dataset = tokenize_dataset(
        path,
        tokenizer,
        data_format="document" if pretraining else params.data_format,
        unmask=params.unmask,
        # documents of any length are cut into blocks; the blocks are the samples
        max_seq_len=_UNLIMITED if pretraining else params.max_seq_len,
        truncate=params.truncate,
        cache_dir=params.data_cache_dir,
        workers=params.data_workers,
        field_names=field_names_of(params),
    )
    if pretraining:
        assert params.block_size is not None
        return pack_into_blocks(dataset, params.block_size)
    return dataset
