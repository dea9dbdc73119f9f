"""The native engine's data pipeline: files -> validated records -> tokens -> packed steps.

Typical use in the training loop::

    dataset = load_training_data(params, tokenizer)   # TokenizedDataset; raises DataError
    print(dataset.stats.to_dict())                     # what --dry-run shows
    batcher = StepBatcher(
        dataset,
        effective_batch_size=params.effective_batch_size,
        max_tokens_per_gpu=params.max_tokens_per_gpu,
        num_epochs=params.num_epochs,
        seed=params.seed,
        world_size=world_size,
        rank=rank,
        pad_token_id=tokenizer.pad_token_id or 0,
    )
    total_steps = batcher.total_steps                  # steps_per_epoch * num_epochs
    batcher.load_state_dict(saved_state)               # when resuming
    for step in batcher:                               # Step: this rank's micro-batches
        for micro_batch in step.micro_batches:         # PackedBatch (engine/batch.py)
            loss_sum = ...                             # sum over tokens with label != -100
            (loss_sum / step.num_loss_tokens).backward()
        ...
        save(batcher.state_dict())                     # position of the next step

The pieces:

- :func:`load_training_data` ``(params, tokenizer) -> TokenizedDataset``: read
  ``params.data_path`` (.jsonl/.json/.parquet), validate every record, tokenize
  (chat template, assistant-only loss unless ``unmask``), check lengths against
  ``max_seq_len`` (error, or cut and warn with ``truncate``) and cache the result
  on disk (``data_cache_dir``, default ``~/.cache/training-hub/data``).
  :func:`tokenize_dataset` is the same with explicit keyword arguments.
  In a multi-process run call it on rank 0 first, then on the others after a
  barrier: they load the cache.
- :class:`TokenizedDataset`: concatenated ``input_ids``/``labels`` (int32) with
  ``offsets``; labels are already shifted (``labels[t]`` is the target of
  ``input_ids[t]``, the last label of every sample is -100). ``len()``,
  ``lengths``, ``loss_tokens``, ``sample(i)``, ``location(i)``, ``stats``,
  ``from_cache``. ``TokenizedDataset.from_samples(pairs)`` builds one in memory.
- :class:`StepBatcher`: deterministic per-epoch shuffle from ``seed`` and the
  epoch; steps of ``effective_batch_size`` samples over all ranks (the last
  partial step is kept); each rank's share packed into micro-batches of at most
  ``max_tokens_per_gpu`` tokens. Every rank gets the same number of micro-batches
  per step; a rank short of work gets dummy micro-batches (one pad token, label
  -100, ``num_samples == 0``, ``num_loss_tokens == 0``) that must still run
  forward and backward so FSDP stays in lockstep. ``steps_per_epoch``,
  ``total_steps``, ``position`` ``(epoch, step_in_epoch)``, ``global_step``,
  ``state_dict()``/``load_state_dict()``.
- :class:`Step`: ``epoch``, ``step_in_epoch``, ``micro_batches`` (this rank's) and
  the step's global ``num_samples``, ``num_tokens``, ``num_loss_tokens``.
- :class:`DatasetStats` / :func:`dataset_stats`: counts for ``--dry-run``.

Every data problem raises :class:`training_hub._errors.DataError` naming the
file and line (JSONL line number, JSON record index or Parquet row) and field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dataset import TokenizedDataset, load_training_data, tokenize_dataset
from .formats import ALLOWED_ROLES, DataFormat
from .readers import Record, read_records
from .stats import DatasetStats, dataset_stats

if TYPE_CHECKING:
    from .packing import Step, StepBatcher, build_packed_batch

__all__ = [
    "ALLOWED_ROLES",
    "DataFormat",
    "DatasetStats",
    "Record",
    "Step",
    "StepBatcher",
    "TokenizedDataset",
    "build_packed_batch",
    "dataset_stats",
    "load_training_data",
    "read_records",
    "tokenize_dataset",
]

# packing needs torch; tokenizer worker processes import this package and must not pay for it.
_FROM_PACKING = {"Step", "StepBatcher", "build_packed_batch"}


def __getattr__(name: str) -> Any:
    if name in _FROM_PACKING:
        from . import packing

        return getattr(packing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
