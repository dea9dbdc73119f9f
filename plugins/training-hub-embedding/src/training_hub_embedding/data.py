"""Training and evaluation data of embedding_sft: read, recognise the format, check it.

Three shapes are accepted, from JSONL, JSON, Parquet or a ``datasets``
``save_to_disk`` folder: training_hub 0.11.2's ``{text, label}`` rows, and
sentence-transformers' (anchor, positive) pairs and (anchor, positive, negative)
triplets, with columns named ``anchor``/``positive``/``negative``, named by the
``columns`` parameter, or taken in file order. Every problem is one
:class:`~training_hub.DataError` naming the file (and the line where there is one).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from math import ceil
from pathlib import Path
from typing import Any, Literal

from training_hub import DataError

__all__ = [
    "EmbeddingExamples",
    "RetrievalTask",
    "load_examples",
    "prepare_for_loss",
    "retrieval_task",
]

#: Column names sentence-transformers treats as labels/scores, never as texts.
_LABEL_NAMES = ("label", "labels", "score", "scores")


@dataclass(frozen=True)
class EmbeddingExamples:
    """What one file holds: text pairs/triplets (``kind="pairs"``) or labeled texts."""

    kind: Literal["pairs", "labels"]
    #: One tuple per example: (anchor, positive[, negative]) or (text,).
    rows: list[tuple[str, ...]]
    #: Integer labels of labeled texts (None for pairs).
    labels: list[int] | None
    #: The file's column names used, in the order anchor, positive[, negative] or text, label.
    columns: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.rows)


def _read_table(path: str, what: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Records with their locations, and the column names in file order."""
    folder = Path(path)
    if folder.is_dir():
        return _read_datasets_folder(folder, path, what)
    if not folder.exists():
        raise DataError(f"{what} {path} does not exist. Give a .jsonl, .json or .parquet file "
                        "or a folder written by datasets' save_to_disk.")
    from training_hub.engine.data.readers import read_records

    try:
        records = read_records(path)
    except DataError as exc:
        raise DataError(f"{what}: {exc}") from None
    located = []
    columns: list[str] = []
    for record in records:
        if not isinstance(record.data, dict):
            raise DataError(f"{record.location}: expected a JSON object (one example), got "
                            f"{type(record.data).__name__}.")
        for key in record.data:
            if key not in columns:
                columns.append(key)
        located.append((record.location, record.data))
    return located, columns


def _read_datasets_folder(
    folder: Path, path: str, what: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    try:
        from datasets import Dataset, DatasetDict, load_from_disk
    except ImportError:
        raise DataError(f"{what} {path} is a folder; reading a `datasets` folder needs the "
                        "datasets package: pip install datasets.") from None
    try:
        loaded = load_from_disk(str(folder))
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(f"{what} {path} is a folder but not one written by datasets' "
                        f"save_to_disk ({exc}). Give the folder of a saved Dataset, or a "
                        ".jsonl/.json/.parquet file.") from None
    if isinstance(loaded, DatasetDict):
        if "train" not in loaded:
            raise DataError(f"{what} {path} holds a DatasetDict with splits {list(loaded)} and "
                            "no 'train' split; save the split to train on alone "
                            "(dataset_dict['name'].save_to_disk(...)).")
        loaded = loaded["train"]
    assert isinstance(loaded, Dataset)
    if len(loaded) == 0:
        raise DataError(f"{what} {path} holds no rows; it is empty.")
    rows = [(f"{path} row {index}", dict(row)) for index, row in enumerate(loaded)]
    return rows, list(loaded.column_names)


def _text(value: Any, where: str, column: str) -> str:
    if not isinstance(value, str):
        got = "missing" if value is None else f"{type(value).__name__} {value!r:.40}"
        raise DataError(f"{where}: column '{column}' must be a text (a string), got {got}.")
    if not value.strip():
        raise DataError(f"{where}: column '{column}' is an empty text; remove the example or "
                        "fill it in.")
    return value


def _encode_labels(raw: list[tuple[str, Any]], column: str) -> list[int]:
    """Integer labels: ints kept, integral floats and bools coerced, other values (category
    names) mapped to 0..n-1 in sorted order, as training_hub 0.11.2 does."""
    for where, value in raw:
        if value is None or isinstance(value, (list, dict)):
            raise DataError(f"{where}: column '{column}' must be one label (an integer or a "
                            f"name), got {value!r:.40}.")
    values = [value for _, value in raw]
    if all(isinstance(v, bool) or isinstance(v, int) for v in values):
        return [int(v) for v in values]
    if all(isinstance(v, float) and v.is_integer() for v in values):
        return [int(v) for v in values]
    names = sorted({str(v) for v in values})
    code = {name: index for index, name in enumerate(names)}
    return [code[str(v)] for v in values]


def load_examples(
    path: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    columns: Sequence[str] | None = None,
    what: str = "data_path",
) -> EmbeddingExamples:
    """Read ``path`` and recognise its shape (see the module docstring)."""
    records, found = _read_table(path, what)
    if not records:
        raise DataError(f"{what} {path} holds no examples; it is empty.")
    if columns is None and text_column in found:
        if label_column not in found:
            raise DataError(
                f"{what} {path} has a '{text_column}' column but no '{label_column}' column "
                f"(columns: {found}). {{text, label}} rows need both: set label_column to the "
                "column of the labels, or give (anchor, positive) pairs."
            )
        texts, raw_labels = [], []
        for where, data in records:
            texts.append((_text(data.get(text_column), where, text_column),))
            raw_labels.append((where, data.get(label_column)))
        return EmbeddingExamples("labels", texts, _encode_labels(raw_labels, label_column),
                                 (text_column, label_column), path)
    if columns is not None:
        chosen = list(columns)
        missing = [c for c in chosen if c not in found]
        if missing:
            raise DataError(f"{what} {path} has no column {missing} (columns: {found}); fix "
                            "the `columns` parameter.")
    elif "anchor" in found and "positive" in found:
        chosen = ["anchor", "positive"] + (["negative"] if "negative" in found else [])
    else:
        first = records[0][1]
        chosen = [c for c in found if c not in _LABEL_NAMES and c != label_column
                  and isinstance(first.get(c), str)]
        if len(chosen) not in (2, 3):
            raise DataError(
                f"{what} {path}: cannot tell its format from the columns {found}. Give "
                f"{{{text_column}, {label_column}}} rows, columns anchor/positive[/negative], "
                "or exactly 2 or 3 text columns (taken in order as anchor, positive, "
                "negative); or name them with the `columns` parameter "
                "(and text_column/label_column for labeled rows)."
            )
    rows = [tuple(_text(data.get(c), where, c) for c in chosen) for where, data in records]
    return EmbeddingExamples("pairs", rows, None, tuple(chosen), path)


def prepare_for_loss(
    examples: EmbeddingExamples,
    loss_data: Literal["pairs", "labels"],
    *,
    max_pairs_per_label: int,
    seed: int,
    loss_name: str,
) -> EmbeddingExamples:
    """The examples in the shape the loss trains on, checked to give it a signal.

    A pair loss on labeled texts trains on (anchor, positive) pairs of texts of the same
    label (at most ``max_pairs_per_label`` per label), as training_hub 0.11.2 does.
    """
    if examples.kind == "labels":
        assert examples.labels is not None
        distinct = sorted(set(examples.labels))
        if len(distinct) < 2:
            raise DataError(
                f"{examples.source}: every text has the same label ({distinct[0]!r} after "
                f"encoding, column '{examples.columns[1]}'). Contrastive training needs at "
                "least two labels: texts of one label are pulled together and pushed away "
                "from the others."
            )
        if loss_data == "labels":
            return examples
        return _pairs_from_labels(examples, max_pairs_per_label, seed, loss_name)
    if loss_data == "labels":
        raise DataError(
            f"{examples.source} holds {len(examples.columns)}-column text pairs/triplets "
            f"{examples.columns}, but loss '{loss_name}' trains on {{text, label}} rows. Use "
            "loss_type='mnrl' or 'cached_mnrl' for pairs and triplets, or give labeled rows."
        )
    if len(examples.rows) < 2:
        raise DataError(f"{examples.source} holds one example; in-batch negatives need at "
                        "least two.")
    return examples


def _pairs_from_labels(
    examples: EmbeddingExamples, max_pairs_per_label: int, seed: int, loss_name: str
) -> EmbeddingExamples:
    assert examples.labels is not None
    groups: dict[int, list[str]] = {}
    for (text,), label in zip(examples.rows, examples.labels, strict=True):
        groups.setdefault(label, []).append(text)
    rng = random.Random(seed)
    # k texts give k(k-1)/2 pairs: sample the texts first so memory stays bounded.
    cap = ceil((1 + (1 + 8 * max_pairs_per_label) ** 0.5) / 2)
    pairs: list[tuple[str, ...]] = []
    for label in sorted(groups):
        texts = groups[label]
        if len(texts) > cap:
            texts = rng.sample(texts, cap)
        label_pairs = list(combinations(texts, 2))
        if len(label_pairs) > max_pairs_per_label:
            label_pairs = rng.sample(label_pairs, max_pairs_per_label)
        pairs.extend(label_pairs)
    if len(pairs) < 2:
        raise DataError(
            f"{examples.source}: loss '{loss_name}' trains on pairs of texts with the same "
            "label, and these labels give fewer than two pairs (each label needs at least "
            "two texts)."
        )
    return EmbeddingExamples("pairs", pairs, None, ("anchor", "positive"), examples.source)


@dataclass(frozen=True)
class RetrievalTask:
    """An information-retrieval evaluation: each query's relevant documents in a corpus."""

    queries: list[str]
    corpus: list[str]
    #: For each query, the indices of its relevant documents in ``corpus``.
    relevant: list[frozenset[int]]
    #: For each query, a corpus index it must not retrieve (itself, for labeled texts).
    excluded: list[int | None]


def retrieval_task(examples: EmbeddingExamples) -> RetrievalTask:
    """Pairs/triplets: anchors retrieve their positive among every positive and negative.
    Labeled texts: each text retrieves the other texts of its label among all texts."""
    if examples.kind == "pairs":
        corpus: list[str] = []
        index: dict[str, int] = {}
        for row in examples.rows:
            for text in row[1:]:
                if text not in index:
                    index[text] = len(corpus)
                    corpus.append(text)
        queries = [row[0] for row in examples.rows]
        relevant = [frozenset({index[row[1]]}) for row in examples.rows]
        return RetrievalTask(queries, corpus, relevant, [None] * len(queries))
    assert examples.labels is not None
    texts = [row[0] for row in examples.rows]
    by_label: dict[int, set[int]] = {}
    for i, label in enumerate(examples.labels):
        by_label.setdefault(label, set()).add(i)
    keep = [i for i, label in enumerate(examples.labels) if len(by_label[label]) > 1]
    if not keep:
        raise DataError(f"{examples.source}: no label has two texts, so no text has another "
                        "relevant text to retrieve; evaluation needs at least one such label.")
    return RetrievalTask(
        [texts[i] for i in keep],
        texts,
        [frozenset(by_label[examples.labels[i]] - {i}) for i in keep],
        keep,  # type: ignore[arg-type]
    )
