"""Summary numbers of a tokenized dataset, as ``--dry-run`` shows them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dataset import TokenizedDataset

__all__ = ["DatasetStats", "dataset_stats"]

_LISTED_LOCATIONS = 5


@dataclass(frozen=True)
class DatasetStats:
    """What is in a tokenized dataset; every count is in samples or tokens."""

    data_format: str
    num_samples: int
    total_tokens: int
    loss_tokens: int
    masked_fraction: float  # share of tokens that carry no loss
    longest_sample: int
    mean_length: float
    max_seq_len: int
    samples_over_max_seq_len: int  # before truncation
    truncated_samples: int
    zero_loss_samples: int
    zero_loss_locations: list[str] = field(default_factory=list)  # the first few

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dataset_stats(dataset: TokenizedDataset) -> DatasetStats:
    """Compute :class:`DatasetStats` from the dataset's arrays (fast: no token is read)."""
    lengths = dataset.lengths
    total = int(dataset.offsets[-1])
    loss = int(dataset.loss_tokens.sum())
    over = int((dataset.original_lengths > dataset.max_seq_len).sum())
    zero = [int(i) for i in (dataset.loss_tokens == 0).nonzero()[0]]
    return DatasetStats(
        data_format=dataset.data_format,
        num_samples=len(dataset),
        total_tokens=total,
        loss_tokens=loss,
        masked_fraction=1.0 - loss / total if total else 0.0,
        longest_sample=int(lengths.max()) if len(lengths) else 0,
        mean_length=float(lengths.mean()) if len(lengths) else 0.0,
        max_seq_len=dataset.max_seq_len,
        samples_over_max_seq_len=over,
        truncated_samples=over if dataset.truncate else 0,
        zero_loss_samples=len(zero),
        zero_loss_locations=[dataset.location(i) for i in zero[:_LISTED_LOCATIONS]],
    )
