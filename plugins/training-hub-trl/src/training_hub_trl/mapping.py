"""Our parameters -> TRL's ``SFTConfig`` / ``DPOConfig``: the one place the mapping is written.

Every TrainingParams field is either mapped onto a TRL/transformers argument,
honoured by training-hub code around the trainer (data pipeline, checkpoint
rules, non-finite check, resume), or refused by :func:`check_trl_params` when
set to a value TRL cannot honour. docs/trl.md shows the same table.

``*_config_kwargs`` are plain functions (no trl import); ``build_*_config``
import trl and torch and build the real config objects.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from training_hub._errors import ParameterError
from training_hub.training_params import TrainingParams

__all__ = [
    "batch_layout",
    "build_dpo_config",
    "build_sft_config",
    "check_trl_params",
    "dpo_config_kwargs",
    "sft_config_kwargs",
    "trainer_kwargs",
]

_SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}
#: Launch settings of the native engine: TRL runs in the processes it is started in.
_LAUNCH_DEFAULTS = {
    "nnodes": 1, "node_rank": 0, "rdzv_endpoint": None, "master_addr": "127.0.0.1",
    "master_port": 29500,
}


def check_trl_params(params: TrainingParams, *, algorithm: str) -> None:
    """Raise one ParameterError listing every parameter the trl backend cannot honour."""
    problems: list[str] = []
    if params.nproc_per_node > 1:
        problems.append(
            f"nproc_per_node={params.nproc_per_node}: the trl backend does not launch "
            "processes; start your script with `accelerate launch` or `torchrun "
            "--nproc-per-node N` and keep nproc_per_node=1 (effective_batch_size counts "
            "all processes)"
        )
    for name, default in _LAUNCH_DEFAULTS.items():
        if getattr(params, name) != default:
            problems.append(
                f"{name}={getattr(params, name)!r}: multi-node launch settings are for the "
                "native backend; pass them to `accelerate launch`/torchrun instead"
            )
    if params.checkpoint_storage is not None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        problems.append(
            f"checkpoint_storage={params.checkpoint_storage!r} with "
            f"{os.environ['WORLD_SIZE']} processes: the trl backend mirrors checkpoints from "
            "one process only; train on one process, or on the native backend"
        )
    if params.on_nonfinite == "skip":
        problems.append(
            "on_nonfinite='skip': TRL's trainer cannot skip an optimizer step; use 'error' "
            "or the native backend"
        )
    if params.use_liger and not _liger_can_run():
        problems.append("use_liger=True needs a CUDA GPU and the liger-kernel package")
    if params.device == "cuda" and not _cuda_available():
        problems.append("device='cuda' was requested but torch sees no CUDA GPU")
    for name, builtin in (("optimizer", ("adamw",)), ("loss", ("cross_entropy",)),
                          ("lr_scheduler", tuple(_SCHEDULERS))):
        if getattr(params, name) not in builtin:
            problems.append(
                f"{name}={getattr(params, name)!r}: the trl backend supports "
                f"{', '.join(builtin)} only; components of training-hub plugins run on the "
                "native backend"
            )
    if algorithm == "dpo":
        if params.unmask:
            problems.append(
                "unmask=True: the DPO loss is defined on the chosen/rejected completions only"
            )
        if params.data_format != "auto":
            problems.append(
                f"data_format={params.data_format!r}: dpo reads preference records "
                "(prompt/chosen/rejected); leave data_format='auto'"
            )
        if 2 * params.max_seq_len > params.max_tokens_per_gpu:
            problems.append(
                f"max_tokens_per_gpu={params.max_tokens_per_gpu} cannot hold one preference "
                f"pair (chosen + rejected, each up to max_seq_len={params.max_seq_len}); "
                "raise max_tokens_per_gpu to at least 2 * max_seq_len or lower max_seq_len"
            )
    if problems:
        raise ParameterError(
            f"The trl backend of {algorithm} cannot honour: " + "; ".join(problems) + ". "
            "See docs/trl.md for how each parameter maps onto TRL."
        )


def batch_layout(
    effective_batch_size: int, max_tokens_per_gpu: int, tokens_per_sample: int, world_size: int
) -> tuple[int, int]:
    """``(per_device_train_batch_size, gradient_accumulation_steps)``.

    TRL batches by sample count, so the token budget is honoured as an upper
    bound: the largest per-device batch whose worst case (every sample
    ``tokens_per_sample`` long) fits ``max_tokens_per_gpu`` and divides the
    per-process share of ``effective_batch_size`` exactly.
    """
    if effective_batch_size % world_size:
        raise ParameterError(
            f"effective_batch_size={effective_batch_size} is not divisible by the "
            f"{world_size} training processes; choose a multiple of {world_size}."
        )
    per_process = effective_batch_size // world_size
    cap = max(1, max_tokens_per_gpu // tokens_per_sample)
    per_device = max(d for d in range(1, min(cap, per_process) + 1) if per_process % d == 0)
    return per_device, per_process // per_device


def _eval_strategy(params: TrainingParams) -> str:
    if params.validation_split == 0 and params.eval_data_path is None:
        return "no"
    return "steps" if params.validation_frequency is not None else "epoch"


def _liger_can_run() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None and _cuda_available()


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _precision(dtype: str, on_cuda: bool) -> dict[str, bool]:
    if dtype == "auto":
        import torch

        bf16 = on_cuda and torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": False}
    return {"bf16": dtype == "bf16", "fp16": dtype == "fp16"}


def trainer_kwargs(
    params: TrainingParams, *, output_dir: str, tokens_per_sample: int
) -> dict[str, Any]:
    """transformers ``TrainingArguments`` fields shared by SFTConfig and DPOConfig."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    per_device, accumulation = batch_layout(
        params.effective_batch_size, params.max_tokens_per_gpu, tokens_per_sample, world_size
    )
    on_cuda = params.device != "cpu" and _cuda_available()
    use_liger = params.use_liger if params.use_liger is not None else _liger_can_run()
    return {
        "output_dir": output_dir,
        "num_train_epochs": params.num_epochs,
        "max_steps": params.max_steps if params.max_steps is not None else -1,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accumulation,
        "learning_rate": params.learning_rate,
        "lr_scheduler_type": _SCHEDULERS[params.lr_scheduler],
        "warmup_steps": params.warmup_steps,
        "weight_decay": params.weight_decay,
        "adam_beta1": params.adam_beta1,
        "adam_beta2": params.adam_beta2,
        "adam_epsilon": params.adam_eps,
        "max_grad_norm": params.max_grad_norm if params.max_grad_norm is not None else 0.0,
        "seed": params.seed,
        "data_seed": params.seed,
        **_precision(params.dtype, on_cuda),
        "gradient_checkpointing": params.gradient_checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "torch_compile": params.torch_compile,
        "use_liger_kernel": use_liger,
        "use_cpu": not on_cuda,
        # checkpoints are decided by training-hub's callback (save_every, epochs, final)
        "save_strategy": "no",
        "save_total_limit": params.keep_last_n,
        "logging_strategy": "steps",
        "logging_steps": params.logging_steps,
        "logging_first_step": True,
        "report_to": "none",  # TensorBoard is training-hub's own callback (runtime.py)
        # evaluation (evaluation.py): every validation_frequency steps, else each epoch end;
        # evaluation.EvaluationRules adds the epoch ends and the last step
        "eval_strategy": _eval_strategy(params),
        "eval_steps": params.validation_frequency,
        "per_device_eval_batch_size": params.per_device_eval_batch_size or per_device,
        "disable_tqdm": params.quiet,
        "include_num_input_tokens_seen": "non_padding",
        "dataloader_num_workers": 0,
    }


def sft_config_kwargs(params: TrainingParams, *, output_dir: str) -> dict[str, Any]:
    """SFTConfig fields: samples arrive tokenized with labels (training-hub's data pipeline)."""
    return {
        **trainer_kwargs(params, output_dir=output_dir, tokens_per_sample=params.max_seq_len),
        "padding_free": True,  # TRL's fastest mode on CPU and GPU; needs max_length=None
        "packing": False,
        "max_length": None,  # lengths were checked/truncated against max_seq_len already
        "assistant_only_loss": False,  # the labels already hold the assistant-only mask
        "completion_only_loss": None,
        "dataset_num_proc": None,
    }


def dpo_config_kwargs(params: Any, *, output_dir: str) -> dict[str, Any]:
    """DPOConfig fields; a pair is two sequences of up to max_seq_len tokens each."""
    return {
        **trainer_kwargs(params, output_dir=output_dir, tokens_per_sample=2 * params.max_seq_len),
        "beta": params.beta,
        "loss_type": [params.loss_type],
        "label_smoothing": params.label_smoothing,
        "max_length": None,  # checked (or truncated) against max_seq_len by training-hub
        "truncation_mode": "keep_start",
        "dataset_num_proc": None,
    }


def build_sft_config(params: TrainingParams, *, output_dir: str) -> Any:
    """trl's real ``SFTConfig`` for ``params``."""
    from trl import SFTConfig

    return SFTConfig(**sft_config_kwargs(params, output_dir=output_dir))


def build_dpo_config(params: Any, *, output_dir: str) -> Any:
    """trl's real ``DPOConfig`` for ``params``."""
    from trl import DPOConfig

    return DPOConfig(**dpo_config_kwargs(params, output_dir=output_dir))
