"""dpo on TRL: preference records -> TRL's DPOTrainer -> checkpoints.

TRL tokenizes the pairs (chat template for message lists); training-hub then
checks every pair against ``max_seq_len`` like the native pipeline does: a pair
longer than that is a DataError naming its record, unless ``truncate`` is set,
in which case TRL's collator cuts it (keeping the start) and the count is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from datasets import Dataset
from trl import DPOTrainer

from training_hub._errors import DataError
from training_hub.engine.data.split import validation_indices
from training_hub.engine.model import load_tokenizer
from training_hub.hub import resolve_inputs

from .algorithm import DPOParams
from .evaluation import evaluating_trainer, fetch_latest, open_storage, setup_best
from .mapping import build_dpo_config
from .model_card import card_writer
from .preference_data import read_preference_records
from .result import TRLTrainResult
from .runtime import (
    MetricsFile,
    checkpoints_dir,
    inference_config_on_save,
    load_causal_lm,
    prepare_output_dir,
    run_trainer,
    trainer_callback,
    training_callbacks,
)

__all__ = ["check_pair_lengths", "split_pairs", "train_dpo"]

logger = logging.getLogger("training_hub")
_MAX_LISTED = 10


def check_pair_lengths(
    tokenized: Dataset, locations: list[str], max_seq_len: int, truncate: bool
) -> int:
    """Number of pairs longer than ``max_seq_len``; a DataError when they may not be cut."""
    too_long: list[str] = []
    no_completion: list[str] = []
    for index, row in enumerate(tokenized):
        prompt = len(row["prompt_ids"])
        longest = prompt + max(len(row["chosen_ids"]), len(row["rejected_ids"]))
        if longest > max_seq_len:
            too_long.append(f"{locations[index]}: {longest} tokens")
        if prompt >= max_seq_len:
            no_completion.append(f"{locations[index]}: prompt of {prompt} tokens")
    if too_long and not truncate:
        listed = "\n  ".join(too_long[:_MAX_LISTED])
        raise DataError(
            f"{len(too_long)} preference pair(s) are longer than max_seq_len={max_seq_len} "
            f"(prompt + longer answer):\n  {listed}\nRaise max_seq_len, shorten those records, "
            "or set truncate=True to cut them."
        )
    if no_completion:
        listed = "\n  ".join(no_completion[:_MAX_LISTED])
        raise DataError(
            f"{len(no_completion)} preference pair(s) have a prompt of max_seq_len="
            f"{max_seq_len} tokens or more, so truncation would leave no answer to learn "
            f"from:\n  {listed}\nRaise max_seq_len or shorten those prompts."
        )
    return len(too_long)


def split_pairs(
    params: DPOParams, rows: list[dict[str, Any]], locations: list[str]
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]] | None, list[str]]:
    """``(train rows, their locations, validation rows or None, their locations)``:
    ``validation_split`` holds out the pairs the native split would (seeded), or
    ``eval_data_path`` is read like ``data_path``."""
    if params.validation_split > 0:
        held = set(validation_indices(len(rows), params.validation_split, params.seed).tolist())
        if len(held) >= len(rows):
            raise DataError(
                f"validation_split={params.validation_split} of the {len(rows)} preference "
                f"pair(s) of {params.data_path} holds out {len(held)}, which leaves no pair to "
                "train on. Lower validation_split, add pairs, or use eval_data_path."
            )
        kept = [i for i in range(len(rows)) if i not in held]
        return ([rows[i] for i in kept], [locations[i] for i in kept],
                [rows[i] for i in sorted(held)], [locations[i] for i in sorted(held)])
    if params.eval_data_path is not None:
        eval_rows, eval_locations = read_preference_records(params.eval_data_path)
        return rows, locations, eval_rows, eval_locations
    return rows, locations, None, []


def train_dpo(
    params: DPOParams,
    callbacks: Sequence[Any] = (),
    names: tuple[str, str] = ("dpo", "trl"),
) -> TRLTrainResult:
    """Train ``params.model_path`` on the preference pairs of ``params.data_path``, firing
    training-hub's events on ``callbacks``."""
    if params.num_threads is not None:
        torch.set_num_threads(params.num_threads)
    # Hub ids (model_path, tokenizer_path, data_path with revision, data_subset,
    # data_split) and save_to_disk folders become local paths, as on the native engine.
    given, params = params, resolve_inputs(params)
    rows, locations, eval_rows, eval_locations = split_pairs(
        params, *read_preference_records(params.data_path)
    )
    mirror = open_storage(params)  # checkpoint_storage (rank 0), checked before anything
    resume_from = fetch_latest(params, prepare_output_dir(params))
    tokenizer = load_tokenizer(params)
    trainer_callbacks = training_callbacks(params, resume_from, callbacks, names, mirror=mirror)
    # val_loss of dpo is TRL's own evaluation: the mean DPO loss of the held-out pairs
    trainer = inference_config_on_save(evaluating_trainer(DPOTrainer, token_mean=False))(
        model=load_causal_lm(params),
        args=build_dpo_config(params, output_dir=str(checkpoints_dir(params))),
        train_dataset=Dataset.from_list(rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows is not None else None,
        processing_class=tokenizer,
        callbacks=trainer_callbacks,
    )
    trainer.training_hub_card = card_writer(given, params, names, len(rows))
    setup_best(trainer, params, resume_from, mirror)
    truncated = check_pair_lengths(
        trainer.train_dataset, locations, params.max_seq_len, params.truncate
    )
    if trainer.eval_dataset is not None:
        truncated += check_pair_lengths(
            trainer.eval_dataset, eval_locations, params.max_seq_len, params.truncate
        )
    if truncated:
        trainer.data_collator.max_length = params.max_seq_len
        logger.warning(
            "truncate=True: %d of %d preference pairs are cut to max_seq_len=%d tokens.",
            truncated, len(rows), params.max_seq_len,
        )
    return run_trainer(trainer, params, resume_from, trainer_callback(trainer, MetricsFile))
