"""sft's TrainingParams -> instructlab-training's ``TorchrunArgs`` and ``TrainingArgs``.

``LIMITS`` lists what instructlab-training cannot do (its ``run_training``
fixes the schedule to cosine, clips gradients at 1.0, always recomputes
activations, trains in bf16 on CUDA, drops over-long samples, logs every
step). ``to_instructlab_args`` builds the library's own config objects;
instructlab-training is imported there, never at module import.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from training_hub import backend_limits
from training_hub.backend_limits import (
    TRACKER_FIELDS,
    Limit,
    one_of,
    out_of_loop_limits,
    tracker_fields,
)
from training_hub.training_params import TrainingParams

__all__ = [
    "LIMITS",
    "RDZV_ID",
    "TRACKER_FIELDS",
    "check_tracker_fields",
    "data_output_dir",
    "library_fields",
    "to_instructlab_args",
    "tracker_fields",
]

#: Shared by every node of a run; torchrun needs the same id on all of them.
RDZV_ID = "training-hub"

_NATIVE = "use the native backend for this"

LIMITS: tuple[Limit, ...] = (
    Limit("optimizer", one_of("adamw"), "instructlab-training always uses AdamW; optimizers of "
          "training-hub plugins run on the native engine only", "remove optimizer"),
    Limit("loss", one_of("cross_entropy"), "instructlab-training always trains with "
          "cross-entropy; losses of training-hub plugins run on the native engine only",
          "remove loss"),
    Limit("max_steps", one_of(None), "instructlab-training stops only at epoch ends",
          "remove max_steps and set num_epochs"),
    Limit("truncate", one_of(), "instructlab-training drops samples longer than max_seq_len "
          "(it logs how many) and can neither cut them nor stop", "remove truncate"),
    Limit("lr_scheduler", one_of("cosine"), "instructlab-training's run_training always uses "
          "a cosine schedule", "set lr_scheduler='cosine'"),
    Limit("max_grad_norm", one_of(1.0), "instructlab-training clips the gradient norm at 1.0",
          "set max_grad_norm=1.0"),
    Limit("dtype", one_of("auto", "bf16"), "instructlab-training trains in bf16 mixed precision",
          "set dtype='bf16'"),
    Limit("gradient_checkpointing", one_of(True), "instructlab-training always recomputes "
          "activations", "remove gradient_checkpointing or set it to true"),
    Limit("torch_compile", one_of(False), "instructlab-training does not compile the model",
          "remove torch_compile"),
    Limit("device", one_of("auto", "cuda"), "instructlab-training trains on CUDA GPUs only",
          _NATIVE),
    Limit("num_threads", one_of(None), "instructlab-training does not set CPU threads",
          "remove num_threads"),
    Limit("on_nonfinite", one_of(), "instructlab-training neither stops nor skips a step on a "
          "NaN/inf loss", "remove on_nonfinite"),
    Limit("data_format", one_of("auto", "chat"), "instructlab-training reads chat `messages` "
          "records only", "convert the data to chat records"),
    Limit("unmask", one_of(False), "instructlab-training unmasks per record (an `unmask: true` "
          "key in the data), not per run", "add `unmask: true` to the records instead"),
    Limit("tokenizer_path", one_of(None), "instructlab-training loads the tokenizer from "
          "model_path", "copy the tokenizer files into the model folder"),
    Limit("keep_last_n", one_of(None, 1), "instructlab-training keeps every checkpoint or only "
          "the last one", "set keep_last_n to 1 or remove it"),
    Limit("resume", one_of("none", "latest"), "instructlab-training resumes only from the "
          "newest full state in ckpt_output_dir", "set resume='latest' with that folder"),
    Limit("logging_steps", one_of(1), "instructlab-training logs metrics every step",
          "remove logging_steps"),
    Limit("quiet", one_of(False), "instructlab-training has no quiet mode", "remove quiet"),
    *out_of_loop_limits("instructlab-training"),  # evaluation and remote storage
)


def library_fields() -> frozenset[str] | None:
    """The fields of the installed instructlab-training's TrainingArgs (None: not installed)."""
    try:
        from instructlab.training.config import TrainingArgs
    except ImportError:
        return None
    return frozenset(TrainingArgs.model_fields)


def check_tracker_fields(params: Any, library_fields: set[str] | frozenset[str]) -> None:
    """A ParameterError naming each tracker parameter the installed instructlab-training
    cannot take."""
    backend_limits.check_tracker_fields(params, library_fields, backend="instructlab-training",
                                        distribution="instructlab-training")


def data_output_dir(params: TrainingParams) -> str:
    """Where instructlab-training writes its tokenized copy of the data."""
    if params.data_cache_dir is not None:
        return params.data_cache_dir
    return str(Path(params.ckpt_output_dir) / "instructlab-data")


def _data_workers(params: TrainingParams) -> int:
    if params.data_workers is not None:
        return params.data_workers
    return max(1, min(os.cpu_count() or 1, 8))


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def to_instructlab_args(params: TrainingParams) -> tuple[Any, Any]:
    """``(TorchrunArgs, TrainingArgs)`` of instructlab-training for ``params``.

    Callers check ``LIMITS`` first; this maps every parameter that instructlab-
    training can honour and raises ``KeyError`` if the installed release lacks
    a field we set (its pydantic models would otherwise ignore it silently).
    """
    from instructlab.training.config import TorchrunArgs, TrainingArgs

    # the run's rdzv_id (training_hub 0.11.2's name) when given, else ours
    torchrun_fields: dict[str, Any] = {"rdzv_id": RDZV_ID, **params.torchrun_options()}

    use_liger = params.use_liger if params.use_liger is not None else _installed("liger_kernel")
    tensorboard_dir = params.tensorboard_log_dir  # the schema checked tensorboard=True
    if tensorboard_dir is None and params.tensorboard and _installed("tensorboard"):
        tensorboard_dir = str(Path(params.ckpt_output_dir) / "tensorboard")
    training_fields: dict[str, Any] = {
        "model_path": params.model_path,
        "data_path": params.data_path,
        "ckpt_output_dir": params.ckpt_output_dir,
        "data_output_dir": data_output_dir(params),
        "max_seq_len": params.max_seq_len,
        "max_batch_len": params.max_tokens_per_gpu,
        "num_epochs": params.num_epochs,
        "effective_batch_size": params.effective_batch_size,
        # instructlab-training counts checkpoints in samples, we count optimizer steps.
        "save_samples": (params.save_every or 0) * params.effective_batch_size,
        "learning_rate": params.learning_rate,
        "warmup_steps": params.warmup_steps,
        "adamw_weight_decay": params.weight_decay,
        "adamw_betas": (params.adam_beta1, params.adam_beta2),
        "adamw_eps": params.adam_eps,
        "random_seed": params.seed,
        "checkpoint_at_epoch": params.checkpoint_at_epoch,
        "accelerate_full_state_at_epoch": params.checkpoint_at_epoch,
        "keep_last_checkpoint_only": params.keep_last_n == 1,
        "data_process_num_cpu_procs": _data_workers(params),
        "use_liger": use_liger,
        "trust_remote_code": params.trust_remote_code,
        **tracker_fields(params),  # MLflow and W&B: instructlab-training logs to them itself
        "tensorboard_log_dir": tensorboard_dir,
    }
    check_tracker_fields(params, library_fields() or frozenset())
    for cls, fields in ((TorchrunArgs, torchrun_fields), (TrainingArgs, training_fields)):
        unknown = sorted(set(fields) - set(cls.model_fields))
        if unknown:
            raise KeyError(f"the installed instructlab-training {cls.__name__} lacks {unknown}")
    return TorchrunArgs(**torchrun_fields), TrainingArgs(**training_fields)
