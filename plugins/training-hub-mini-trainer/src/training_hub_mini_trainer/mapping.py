"""osft parameters -> mini-trainer's ``TorchrunArgs`` and ``TrainingArgs``.

``LIMITS`` lists what mini-trainer cannot do (it clips gradients at 1.0,
always checkpoints activations, reads pre-tokenized records only, logs every
step, runs on CUDA). ``to_mini_trainer_args`` builds the library's own config
dataclasses; mini-trainer is imported there, never at module import.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from training_hub import backend_limits
from training_hub.backend_limits import (
    TRACKER_FIELDS,
    Limit,
    one_of,
    out_of_loop_limits,
    tracker_fields,
)

__all__ = [
    "LIMITS",
    "RDZV_ID",
    "SCHEDULERS",
    "TRACKER_FIELDS",
    "TRAIN_DTYPES",
    "check_tracker_fields",
    "library_fields",
    "to_mini_trainer_args",
    "tracker_fields",
]

#: Shared by every node of a run; torchrun needs the same id on all of them.
RDZV_ID = "training-hub"

#: Our schedule names -> transformers' ``get_scheduler`` names, which mini-trainer uses.
#: Ours all warm up first; transformers' plain "constant" would skip the warmup.
SCHEDULERS = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}
TRAIN_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}

LIMITS: tuple[Limit, ...] = (
    Limit("optimizer", one_of("adamw"), "mini-trainer always uses AdamW; optimizers of "
          "training-hub plugins run on the native engine only", "remove optimizer"),
    Limit("loss", one_of("cross_entropy"), "mini-trainer always trains with cross-entropy; losses "
          "of training-hub plugins run on the native engine only", "remove loss"),
    Limit("truncate", one_of(False), "mini-trainer cannot cut samples (the backend stops on a "
          "sample longer than max_seq_len instead)", "remove truncate or cut the data"),
    Limit("max_grad_norm", one_of(1.0), "mini-trainer clips the gradient norm at 1.0",
          "set max_grad_norm=1.0"),
    Limit("gradient_checkpointing", one_of(True), "mini-trainer always checkpoints "
          "activations", "remove gradient_checkpointing or set it to true"),
    Limit("torch_compile", one_of(False), "mini-trainer does not compile the model",
          "remove torch_compile"),
    Limit("device", one_of("auto", "cuda"), "mini-trainer trains on CUDA GPUs only",
          "use the native backend for this"),
    Limit("num_threads", one_of(None), "mini-trainer does not set CPU threads",
          "remove num_threads"),
    Limit("on_nonfinite", one_of(), "mini-trainer neither stops nor skips a step on a NaN/inf "
          "loss", "remove on_nonfinite"),
    Limit("lr_scheduler", lambda name: name in SCHEDULERS, "mini-trainer knows only the "
          "constant, linear and cosine schedules", "choose one of those"),
    Limit("data_format", one_of("auto", "tokenized"), "mini-trainer reads pre-tokenized "
          "`input_ids`/`labels` records only", "tokenize the data first"),
    Limit("unmask", one_of(False), "in pre-tokenized data the `labels` decide which tokens "
          "are trained", "write labels for every token instead"),
    Limit("tokenizer_path", one_of(None), "mini-trainer loads the tokenizer from model_path",
          "copy the tokenizer files into the model folder"),
    Limit("data_cache_dir", one_of(None), "mini-trainer tokenizes nothing, so caches nothing",
          "remove data_cache_dir"),
    Limit("data_workers", one_of(None), "mini-trainer tokenizes nothing",
          "remove data_workers"),
    Limit("keep_last_n", one_of(None), "mini-trainer keeps every checkpoint",
          "remove keep_last_n"),
    Limit("resume", lambda value: value != "latest", "mini-trainer resumes only from a "
          "full-state checkpoint folder given by path", "give that folder's path"),
    Limit("logging_steps", one_of(1), "mini-trainer logs metrics every step",
          "remove logging_steps"),
    Limit("tensorboard", one_of(False), "mini-trainer logs to TensorBoard only into a "
          "tensorboard_log_dir", "set tensorboard_log_dir instead"),
    Limit("quiet", one_of(False), "mini-trainer has no quiet mode", "remove quiet"),
    *out_of_loop_limits("mini-trainer"),  # evaluation and remote storage
)


def library_fields() -> frozenset[str] | None:
    """The fields of the installed mini-trainer's TrainingArgs (None: not installed)."""
    from dataclasses import fields

    try:
        from mini_trainer.training_types import TrainingArgs
    except ImportError:
        return None
    return frozenset(f.name for f in fields(TrainingArgs))


def check_tracker_fields(params: Any, library_fields: set[str] | frozenset[str]) -> None:
    """A ParameterError naming each tracker parameter the installed mini-trainer
    cannot take."""
    backend_limits.check_tracker_fields(params, library_fields, backend="mini-trainer",
                                        distribution="rhai-innovation-mini-trainer")


def _train_dtype(dtype: str, bf16_supported: bool) -> str:
    if dtype == "auto":
        return "bfloat16" if bf16_supported else "float32"
    return TRAIN_DTYPES[dtype]


def to_mini_trainer_args(params: Any, *, bf16_supported: bool) -> tuple[Any, Any]:
    """``(TorchrunArgs, TrainingArgs)`` of mini-trainer for osft ``params``.

    ``params`` is an osft schema instance (TrainingParams plus
    ``unfreeze_rank_ratio`` and ``target_patterns``); callers check ``LIMITS``
    first. ``bf16_supported`` resolves ``dtype='auto'`` as the native engine does.
    """
    from mini_trainer.training_types import TorchrunArgs, TrainingArgs, TrainingMode

    # the run's rdzv_id (training_hub 0.11.2's name) when given, else ours
    torchrun_fields: dict[str, Any] = {"rdzv_id": RDZV_ID, **params.torchrun_options()}

    by_steps = params.max_steps is not None
    use_liger = (
        params.use_liger
        if params.use_liger is not None
        else importlib.util.find_spec("liger_kernel") is not None
    )
    training_fields: dict[str, Any] = {
        "model_name_or_path": params.model_path,
        "data_path": params.data_path,
        "output_dir": params.ckpt_output_dir,
        "batch_size": params.effective_batch_size,
        "max_tokens_per_gpu": params.max_tokens_per_gpu,
        "learning_rate": params.learning_rate,
        "num_warmup_steps": params.warmup_steps,
        "lr_scheduler": SCHEDULERS[params.lr_scheduler],
        "seed": params.seed,
        "beta1": params.adam_beta1,
        "beta2": params.adam_beta2,
        "eps": params.adam_eps,
        "weight_decay": params.weight_decay,
        "use_liger_kernels": use_liger,
        "osft": True,
        "osft_unfreeze_rank_ratio": params.unfreeze_rank_ratio,
        "osft_target_patterns": list(params.target_patterns),
        "training_mode": TrainingMode.STEP if by_steps else TrainingMode.EPOCH,
        "max_epochs": params.num_epochs,
        "max_steps": params.max_steps or 0,
        # mini-trainer counts checkpoints in samples, we count optimizer steps.
        "min_samples_per_checkpoint": (
            params.save_every * params.effective_batch_size if params.save_every else None
        ),
        "checkpoint_at_epoch": params.checkpoint_at_epoch,
        "save_final_checkpoint": params.save_final_checkpoint,
        "train_dtype": _train_dtype(params.dtype, bf16_supported),
        "trust_remote_code": params.trust_remote_code,
        "resume_from_full_state_checkpoint": (
            None if params.resume == "none" else params.resume
        ),
        # TensorBoard, MLflow and W&B: mini-trainer logs to them itself
        **tracker_fields(params),
    }
    check_tracker_fields(params, library_fields() or frozenset())
    return TorchrunArgs(**torchrun_fields), TrainingArgs(**training_fields)
