"""Hold out validation samples: a seeded, deterministic split of a tokenized dataset.

The held-out samples are drawn from a permutation seeded by ``seed`` alone, so
every rank, every run with the same data and seed, and a resumed run hold out
exactly the same samples; the training part never contains them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..._errors import DataError
from .dataset import TokenizedDataset
from .tokenizing import TokenizedArrays

__all__ = ["hold_out", "select_samples", "validation_indices"]

#: Second word of the split's seed, so that it draws from another stream than the epoch order.
_SPLIT_STREAM = 0x76616C  # "val"


def validation_indices(num_samples: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of the ``ceil(fraction * num_samples)`` held-out samples."""
    count = math.ceil(fraction * num_samples)
    order = np.random.default_rng([seed, _SPLIT_STREAM]).permutation(num_samples)
    return np.sort(order[:count])


def select_samples(
    dataset: TokenizedDataset, indices: Sequence[int] | np.ndarray
) -> TokenizedDataset:
    """A new dataset of the samples ``indices`` of ``dataset``, in that order (arrays copied);
    their locations (file and line in messages) stay those of the original records."""
    chosen = np.asarray(indices, dtype=np.int64)
    lengths = dataset.lengths[chosen]
    offsets = np.zeros(len(chosen) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if len(chosen):
        starts = dataset.offsets[chosen]
        token_index = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    else:
        token_index = np.zeros(0, dtype=np.int64)
    arrays = TokenizedArrays(
        input_ids=np.asarray(dataset.input_ids[token_index]),
        labels=np.asarray(dataset.labels[token_index]),
        offsets=offsets,
        loss_tokens=np.asarray(dataset.loss_tokens[chosen]),
        original_lengths=np.asarray(dataset.original_lengths[chosen]),
    )
    return TokenizedDataset(
        arrays,
        record_index=np.asarray(dataset.record_index[chosen]),
        source=dataset.source,
        record_kind=dataset.record_kind,
        data_format=dataset.data_format,
        max_seq_len=dataset.max_seq_len,
        truncate=dataset.truncate,
        from_cache=dataset.from_cache,
        cache_path=dataset.cache_path,
    )


def hold_out(
    dataset: TokenizedDataset, fraction: float, seed: int
) -> tuple[TokenizedDataset, TokenizedDataset]:
    """``(training, validation)``: ``validation_split=fraction`` of ``dataset``'s samples held
    out; one :class:`DataError` when either part would be empty or carry no loss."""
    total = len(dataset)
    held = validation_indices(total, fraction, seed)
    if len(held) >= total:
        raise DataError(
            f"validation_split={fraction} of the {total} sample(s) of {dataset.source} holds out "
            f"{len(held)}, which leaves no sample to train on. Lower validation_split, add "
            "samples, or give a separate validation file with eval_data_path."
        )
    kept = np.setdiff1d(np.arange(total), held, assume_unique=True)
    training, validation = select_samples(dataset, kept), select_samples(dataset, held)
    if int(validation.loss_tokens.sum()) == 0:
        raise DataError(
            f"The {len(held)} sample(s) that validation_split={fraction} holds out of "
            f"{dataset.source} (e.g. {validation.location(0)}) carry no loss token, so there is "
            "no val_loss to compute. Raise validation_split, or use eval_data_path."
        )
    if int(training.loss_tokens.sum()) == 0:
        raise DataError(
            f"After validation_split={fraction} held out {len(held)} sample(s) of "
            f"{dataset.source}, no training sample carries a loss token. Lower "
            "validation_split or use eval_data_path."
        )
    return training, validation
