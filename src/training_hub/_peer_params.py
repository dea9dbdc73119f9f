"""training_hub 0.11.2's parameter names on the native engine's schema (``TrainingParams``).

A peer name whose meaning is that of a native field is an alias of it
(:data:`PEER_ALIASES`: ``beta1`` is ``adam_beta1``). A peer name with a meaning
of its own is a real field of the schema (``save_samples``, ``block_size``...);
this module turns the ones that restate native settings into those settings
(:func:`resolve_peer_values`: ``bf16=True`` is ``dtype='bf16'``), refuses
contradictions (:func:`peer_problems`) and, before training, what cannot apply
on this machine (:func:`device_problems`: ``tf32`` on a CPU). Nothing a peer
user passes is ignored. docs/migrating-from-training-hub.md is the map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ENGINE_FIELDS",
    "LORA_PEER_ALIASES",
    "PEER_ALIASES",
    "check_peer_fields",
    "device_problems",
    "max_samples_per_micro_batch",
    "peer_problems",
    "resolve_peer_values",
    "samples_checkpoint_due",
]

#: training_hub 0.11.2 name -> native field of the same meaning (every engine algorithm).
PEER_ALIASES: dict[str, str] = {
    "beta1": "adam_beta1",
    "beta2": "adam_beta2",
    "eps": "adam_eps",
    "data_output_dir": "data_cache_dir",
    "unmask_messages": "unmask",
    "save_steps": "save_every",
    "save_total_limit": "keep_last_n",
    "eval_steps": "validation_frequency",
    "data_config": "data_subset",  # the Hub data set's config name (lora_grpo's data_config)
}

#: Aliases of lora_sft's names for the lora schema.
LORA_PEER_ALIASES: dict[str, str] = {}

_DATASET_TYPE_FORMATS = {"chat_template": "chat", "alpaca": "alpaca"}


def _world_size(data: Mapping[str, Any]) -> int:
    try:
        return int(data.get("nproc_per_node", 1)) * int(data.get("nnodes", 1))
    except (TypeError, ValueError):
        return 1  # the field validators report the bad value


def resolve_peer_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """The native settings that peer fields restate, filled in before validation:

    - ``bf16``/``fp16`` -> ``dtype`` (``bf16=False`` with ``fp16`` not set: fp32);
    - ``use_processed_dataset=True`` -> ``data_format='tokenized'``;
    - ``dataset_type`` -> ``data_format`` (chat_template: chat, alpaca: alpaca);
    - ``micro_batch_size`` x ``gradient_accumulation_steps`` x processes ->
      ``effective_batch_size`` when that is not given (given, it must agree);
    - ``enable_jit_checkpoint=True`` given and ``resume`` not -> ``resume='latest'`` (the
      peer's "save on SIGTERM and auto-resume on restart": the same call run again goes
      on from the newest checkpoint, local or in ``checkpoint_storage``).

    A value already given that disagrees is left for :func:`peer_problems` to report.
    """
    values = dict(data)
    dtype = values.get("dtype", "auto")
    if dtype == "auto":
        if values.get("bf16") is True and values.get("fp16") is not True:
            values["dtype"] = "bf16"
        elif values.get("fp16") is True and values.get("bf16") is not True:
            values["dtype"] = "fp16"
        elif values.get("bf16") is False and values.get("fp16") in (False, None):
            values["dtype"] = "fp32"
    data_format = values.get("data_format", "auto")
    if data_format == "auto":
        if values.get("use_processed_dataset") is True:
            values["data_format"] = "tokenized"
        elif values.get("dataset_type") in _DATASET_TYPE_FORMATS:
            values["data_format"] = _DATASET_TYPE_FORMATS[values["dataset_type"]]
    micro, accumulation = values.get("micro_batch_size"), values.get("gradient_accumulation_steps")
    if (
        values.get("effective_batch_size") is None
        and isinstance(micro, int)
        and isinstance(accumulation, int)
    ):
        values["effective_batch_size"] = micro * accumulation * _world_size(values)
    if values.get("enable_jit_checkpoint") is True and values.get("resume") is None:
        values["resume"] = "latest"
    return values


def peer_problems(params: Any) -> list[str]:
    """Combinations of peer and native parameters that contradict each other."""
    p = params
    problems: list[str] = []
    if p.bf16 and p.fp16:
        problems.append("bf16=True and fp16=True ask for two precisions: set one")
    for flag, wanted in (("bf16", "bf16"), ("fp16", "fp16")):
        value = getattr(p, flag)
        if value is True and p.dtype != wanted:
            problems.append(f"{flag}=True contradicts dtype='{p.dtype}': give one of them")
        if value is False and p.dtype == wanted:
            problems.append(f"{flag}=False contradicts dtype='{p.dtype}': give one of them")
    if p.use_processed_dataset is True and p.data_format not in ("auto", "tokenized"):
        problems.append(
            f"use_processed_dataset=True (pre-tokenized input_ids/labels) contradicts "
            f"data_format='{p.data_format}'"
        )
    if p.use_processed_dataset is False and p.data_format == "tokenized":
        problems.append("use_processed_dataset=False contradicts data_format='tokenized'")
    if p.dataset_type in _DATASET_TYPE_FORMATS and p.data_format not in (
        "auto", _DATASET_TYPE_FORMATS[p.dataset_type]
    ):
        problems.append(
            f"dataset_type='{p.dataset_type}' contradicts data_format='{p.data_format}'"
        )
    if p.is_pretraining:
        if p.block_size is None:
            problems.append(
                "is_pretraining=True needs block_size (tokens per block the documents are "
                "cut into, e.g. 2048)"
            )
        elif p.block_size > p.max_tokens_per_gpu:
            problems.append(
                f"block_size ({p.block_size}) is larger than max_tokens_per_gpu "
                f"({p.max_tokens_per_gpu}): a block must fit in one micro-batch"
            )
        if p.data_format not in ("auto", "document"):
            problems.append(
                f"is_pretraining=True reads documents; it contradicts "
                f"data_format='{p.data_format}'"
            )
        if p.unmask:
            problems.append(
                "is_pretraining=True trains every token already; unmask (unmask_messages) "
                "applies to chat data: drop one of them"
            )
    elif p.block_size is not None:
        problems.append(
            "block_size applies only with is_pretraining=True (documents cut into blocks); "
            "set is_pretraining=True or drop block_size"
        )
    problems += _scheduler_option_problems(p)
    world = p.nproc_per_node * p.nnodes
    micro, accumulation = p.micro_batch_size, p.gradient_accumulation_steps
    if micro is not None and accumulation is not None:
        product = micro * accumulation * world
        if product != p.effective_batch_size:
            problems.append(
                f"micro_batch_size ({micro}) x gradient_accumulation_steps ({accumulation}) x "
                f"{world} process(es) = {product} samples per step, but effective_batch_size "
                f"is {p.effective_batch_size}: give two of the three, or values that agree"
            )
    elif accumulation is not None and p.effective_batch_size % (accumulation * world):
        problems.append(
            f"effective_batch_size ({p.effective_batch_size}) is not a multiple of "
            f"gradient_accumulation_steps ({accumulation}) x {world} process(es), so the "
            "micro-batches cannot all hold the same number of samples"
        )
    if p.sample_packing is False and micro is not None and micro > 1:
        problems.append(
            f"sample_packing=False puts one sample in each micro-batch, which contradicts "
            f"micro_batch_size={micro}"
        )
    return problems


#: The lr_scheduler_kwargs each built-in schedule understands.
_SCHEDULE_OPTIONS = {
    "constant": frozenset(),
    "linear": frozenset({"min_lr_rate", "min_lr"}),
    "cosine": frozenset({"min_lr_rate", "min_lr", "num_cycles"}),
}


def _scheduler_option_problems(p: Any) -> list[str]:
    options = p.lr_scheduler_kwargs
    known = _SCHEDULE_OPTIONS.get(p.lr_scheduler)
    if not options or known is None:  # a plugin's schedule reads its own options
        return []
    problems = []
    unknown = sorted(set(options) - known)
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        problems.append(
            f"lr_scheduler_kwargs {unknown} are not options of the '{p.lr_scheduler}' schedule "
            f"(it takes: {accepted})"
        )
    if "min_lr_rate" in options and "min_lr" in options:
        problems.append("lr_scheduler_kwargs: give min_lr_rate or min_lr, not both")
    floor = options.get("min_lr_rate", options.get("min_lr", 0.0) / p.learning_rate)
    if not 0.0 <= floor <= 1.0:
        problems.append(
            f"lr_scheduler_kwargs: the decay floor ({floor:g} of learning_rate) must lie "
            "between 0 and 1"
        )
    if options.get("num_cycles", 0.5) <= 0:
        problems.append("lr_scheduler_kwargs: num_cycles must be positive")
    return problems


def device_problems(params: Any) -> list[str]:
    """Peer parameters that cannot apply on this machine (checked before training)."""
    problems: list[str] = []
    tf32, flash = getattr(params, "tf32", None), getattr(params, "flash_attention", None)
    liger = getattr(params, "use_liger", None)
    if tf32 is None and flash is None and liger is not True:  # (also: a schema without them)
        return problems
    import importlib.util

    import torch

    cuda = torch.cuda.is_available() and params.device != "cpu"
    if liger is True and not cuda:
        problems.append(
            "use_liger=True: the Liger kernels are Triton kernels for NVIDIA GPUs and there "
            "is none here (or device='cpu'); leave use_liger None (auto) or set it False"
        )
    if tf32 is True and not cuda:
        problems.append(
            "tf32=True: TensorFloat-32 is a mode of NVIDIA GPUs (Ampere and newer) and there "
            "is none here (or device='cpu'); drop tf32 or leave it None"
        )
    if flash is True:
        from .engine.attention import varlen_flash_available

        if not cuda:
            problems.append(
                "flash_attention=True: FlashAttention runs on NVIDIA GPUs and there is none "
                "here (or device='cpu'); on CPU the engine uses per-sample SDPA. Drop "
                "flash_attention or leave it None"
            )
        elif not (varlen_flash_available() or importlib.util.find_spec("flash_attn")):
            problems.append(
                "flash_attention=True but neither torch's varlen flash kernel nor the "
                "flash-attn package is available here: pip install flash-attn, or leave "
                "flash_attention None"
            )
        elif params.dtype == "fp32":
            problems.append("flash_attention=True needs bf16 or fp16, not dtype='fp32'")
    if flash is False and cuda:
        problems.append(
            "flash_attention=False: on a GPU the native engine always runs packed samples "
            "through the flash kernel when one is available (same results as unfused "
            "attention); it has no switch to turn it off. Leave flash_attention None"
        )
    return problems


def max_samples_per_micro_batch(params: Any) -> int | None:
    """Samples one micro-batch may hold: 1 without ``sample_packing``, else
    ``micro_batch_size`` (None: only ``max_tokens_per_gpu`` limits it)."""
    if getattr(params, "sample_packing", True) is False:
        return 1
    limit: int | None = getattr(params, "micro_batch_size", None)
    return limit


def samples_checkpoint_due(samples_before: int, step_samples: int, every: int | None) -> bool:
    """``save_samples``: whether a step that took the samples seen from ``samples_before``
    to ``samples_before + step_samples`` passed a multiple of ``every`` (0/None: never)."""
    if not every:
        return False
    return (samples_before + step_samples) // every > samples_before // every


#: Peer fields that only the native engine carries out (the others restate native fields,
#: which every backend maps or refuses itself). A backend that carries out some of them
#: lists those in its ``honours_peer_fields`` class attribute (the native one: all).
ENGINE_FIELDS = frozenset({
    "save_samples", "accelerate_full_state_at_epoch", "enable_jit_checkpoint",
    "is_pretraining", "block_size", "document_column_name", "field_messages",
    "field_instruction", "field_input", "field_output", "micro_batch_size",
    "gradient_accumulation_steps", "sample_packing", "tf32", "flash_attention", "rdzv_id",
    "lr_scheduler_kwargs", "per_device_eval_batch_size",
})


def check_peer_fields(backend: Any, params: Any) -> None:
    """Refuse, before training, a peer field set (to a value other than its default) that
    ``backend`` does not carry out: it would otherwise be silently ignored."""
    from ._errors import ParameterError

    fields = type(params).model_fields
    honoured: frozenset[str] = getattr(backend, "honours_peer_fields", frozenset())
    unhonoured = [
        name for name in sorted(ENGINE_FIELDS - set(honoured))
        if name in fields and getattr(params, name) != fields[name].get_default(
            call_default_factory=True)
    ]
    if unhonoured:
        label = getattr(backend, "label", type(backend).__name__)
        given = ", ".join(f"{n}={getattr(params, n)!r}" for n in unhonoured)
        raise ParameterError(
            f"{given}: {label} does not carry out {'this' if len(unhonoured) == 1 else 'these'} "
            "(the native engine does); use backend='native' or leave "
            f"{'it' if len(unhonoured) == 1 else 'them'} at the default."
        )
