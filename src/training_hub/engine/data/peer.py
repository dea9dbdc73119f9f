"""training_hub 0.11.2's data options: its field names, alpaca records and fixed-size blocks.

- :func:`rename_fields`: records whose messages, document or alpaca fields have
  other names (``field_messages``, ``document_column_name``, ``field_instruction``...)
  are read under the names the formats expect.
- :class:`AlpacaFormat`: the ``alpaca`` data format (registered in ``DATA_FORMATS``
  by the core): ``{"instruction", "input" (optional), "output"}`` records become a
  user turn (the instruction, then the input after a blank line) and the
  assistant's answer, rendered with the chat template; the loss is on the answer
  unless ``unmask``.
- :func:`pack_into_blocks`: continual pre-training (``is_pretraining``): the
  tokenized documents are joined and cut into blocks of ``block_size`` tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..._errors import DataError
from .readers import Record

__all__ = ["ALPACA", "AlpacaFormat", "field_names_of", "pack_into_blocks", "rename_fields"]

#: Parameter -> the field name the formats read.
_FIELD_PARAMETERS = {
    "field_messages": "messages",
    "document_column_name": "document",
    "field_instruction": "instruction",
    "field_input": "input",
    "field_output": "output",
}


def field_names_of(params: Any) -> dict[str, str]:
    """``{name in the data: name the formats read}`` for the names ``params`` changes."""
    names = {}
    for parameter, standard in _FIELD_PARAMETERS.items():
        given = getattr(params, parameter, standard)
        if given != standard:
            names[given] = standard
    return names


def rename_fields(records: Sequence[Record], names: Mapping[str, str]) -> list[Record]:
    """``records`` with the fields of ``names`` renamed; a record that has both a field and
    the name it would be renamed to is an error (which one to train on is unclear)."""
    if not names:
        return list(records)
    renamed = []
    for record in records:
        data = record.data
        if isinstance(data, dict) and any(old in data for old in names):
            data = dict(data)
            for old, new in names.items():
                if old in data:
                    if new in data:
                        raise DataError(
                            f"{record.location}: the record has both '{old}' (named by the "
                            f"parameters as the '{new}' field) and '{new}'; remove one."
                        )
                    data[new] = data.pop(old)
            record = replace(record, data=data)
        renamed.append(record)
    return renamed


def _alpaca_messages(record: Mapping[str, Any]) -> list[dict[str, str]]:
    prompt = record["instruction"]
    extra = record.get("input")
    if extra:
        prompt = f"{prompt}\n\n{extra}"
    return [{"role": "user", "content": prompt},
            {"role": "assistant", "content": record["output"]}]


class AlpacaFormat:
    """``{"instruction", "input", "output"}`` records trained as one user turn and the
    assistant's answer (the answer carries the loss unless ``unmask``)."""

    detect_field = "instruction"
    version = "1"

    def problem(self, record: dict[str, Any], *, vocab_size: int | None) -> str | None:
        for name in ("instruction", "output"):
            value = record.get(name)
            if name not in record:
                return (f"missing field '{name}' (an alpaca record needs instruction and "
                        "output; field_instruction/field_output name other fields)")
            if not isinstance(value, str) or not value.strip():
                return f"field '{name}' must be a non-empty string, got {value!r}"
        extra = record.get("input")
        if extra is not None and not isinstance(extra, str):
            return f"field 'input' must be a string, got {type(extra).__name__}"
        return None

    def to_samples(
        self,
        records: Sequence[dict[str, Any]],
        tokenizer: Any,
        *,
        unmask: bool,
        locations: Sequence[str],
    ) -> list[tuple[Sequence[int], Sequence[int]]]:
        from .formats import CHAT

        chats = [{"messages": _alpaca_messages(r)} for r in records]
        samples: list[tuple[Sequence[int], Sequence[int]]] = CHAT.to_samples(
            chats, tokenizer, unmask=unmask, locations=locations
        )
        return samples


ALPACA = AlpacaFormat()


def pack_into_blocks(dataset: Any, block_size: int) -> Any:
    """A :class:`TokenizedDataset` of blocks of ``block_size`` tokens cut from the documents
    of ``dataset`` joined in order (the last block may be shorter).

    The labels are the documents' own (already shifted, so the EOS ending a document
    is not trained to predict the next one), and the last token of each block has no
    target: it would lie in the next block. Tokens of one block attend to each other.
    """
    from .dataset import TokenizedDataset
    from .tokenizing import IGNORE_INDEX, TokenizedArrays

    if dataset.data_format != "document":
        raise DataError(
            f"is_pretraining=True cuts documents into blocks, but {dataset.source} holds "
            f"{dataset.data_format} records; give records with a '{'document'}' field "
            "(document_column_name names another field)."
        )
    total = len(dataset.input_ids)
    starts = np.arange(0, total, block_size, dtype=np.int64)
    offsets = np.append(starts, total).astype(np.int64)
    labels = np.array(dataset.labels, dtype=np.int32, copy=True)
    labels[offsets[1:] - 1] = IGNORE_INDEX
    lengths = np.diff(offsets)
    loss_tokens = np.add.reduceat(labels != IGNORE_INDEX, starts) if total else lengths
    # each block points to the document it starts in, for error messages
    document_of_start = np.searchsorted(dataset.offsets, starts, side="right") - 1
    blocks = TokenizedDataset(
        TokenizedArrays(
            input_ids=np.asarray(dataset.input_ids, dtype=np.int32),
            labels=labels,
            offsets=offsets,
            loss_tokens=np.asarray(loss_tokens, dtype=np.int64),
            original_lengths=lengths.astype(np.int64),
        ),
        record_index=np.asarray(dataset.record_index)[document_of_start],
        source=dataset.source,
        record_kind=dataset.record_kind,
        data_format="document",
        max_seq_len=block_size,
        truncate=False,
        from_cache=dataset.from_cache,
        cache_path=dataset.cache_path,
    )
    return blocks
