"""sft on TRL: training-hub's data pipeline -> TRL's SFTTrainer (padding-free) -> checkpoints.

The data go through the native engine's pipeline (same readers, validation,
chat template, assistant-only masks, max_seq_len checks, cache and errors),
and reach TRL as ``input_ids`` + ``labels`` columns, which TRL uses as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from datasets import Dataset
from trl import SFTTrainer

from training_hub.engine.batch import IGNORE_INDEX
from training_hub.engine.data import TokenizedDataset
from training_hub.engine.evaluation import load_run_data
from training_hub.engine.model import load_tokenizer
from training_hub.hub import resolve_inputs
from training_hub.training_params import TrainingParams

from .evaluation import evaluating_trainer, fetch_latest, open_storage, setup_best
from .mapping import build_sft_config
from .model_card import card_writer
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

__all__ = ["to_trl_dataset", "train_sft"]


def to_trl_dataset(dataset: TokenizedDataset) -> Dataset:
    """``input_ids`` + unshifted ``labels`` (transformers shifts them inside the loss).

    The engine's labels are shifted (``labels[t]`` is the target of
    ``input_ids[t]``); Hugging Face labels sit on the predicted token instead.
    """
    input_ids: list[list[int]] = []
    labels: list[list[int]] = []
    for index in range(len(dataset)):
        ids, shifted = dataset.sample(index)
        input_ids.append(ids.tolist())
        labels.append([IGNORE_INDEX, *shifted[:-1].tolist()])
    return Dataset.from_dict({"input_ids": input_ids, "labels": labels})


def train_sft(
    params: TrainingParams,
    callbacks: Sequence[Any] = (),
    names: tuple[str, str] = ("sft", "trl"),
) -> TRLTrainResult:
    """Train ``params.model_path`` on ``params.data_path`` with TRL's SFTTrainer, firing
    training-hub's events on ``callbacks``."""
    if params.num_threads is not None:
        torch.set_num_threads(params.num_threads)
    # Hub ids (model_path, tokenizer_path, data_path with revision, data_subset,
    # data_split) and save_to_disk folders become local paths, as on the native engine.
    given, params = params, resolve_inputs(params)
    mirror = open_storage(params)  # checkpoint_storage (rank 0), checked before anything
    resume_from = fetch_latest(params, prepare_output_dir(params))
    tokenizer = load_tokenizer(params)
    # the native engine's split (validation_split) or file (eval_data_path), same masking
    training, validation = load_run_data(params, tokenizer)
    trainer_callbacks = training_callbacks(params, resume_from, callbacks, names, mirror=mirror)
    trainer = inference_config_on_save(evaluating_trainer(SFTTrainer, token_mean=True))(
        model=load_causal_lm(params),
        args=build_sft_config(params, output_dir=str(checkpoints_dir(params))),
        train_dataset=to_trl_dataset(training),
        eval_dataset=to_trl_dataset(validation) if validation is not None else None,
        processing_class=tokenizer,
        callbacks=trainer_callbacks,
    )
    trainer.training_hub_card = card_writer(given, params, names, len(training))
    setup_best(trainer, params, resume_from, mirror)
    return run_trainer(trainer, params, resume_from, trainer_callback(trainer, MetricsFile))
