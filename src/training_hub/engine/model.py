"""Load the Hugging Face model and tokenizer and pick device and precision.

The model is always loaded with fp32 master weights; the training precision
(bf16/fp16) is applied as compute dtype by autocast or by FSDP2's mixed
precision, so that optimizer updates and checkpoints keep full precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._errors import ConfigError, ParameterError
from ..training_params import TrainingParams
from .attention import select_attention

__all__ = ["Precision", "load_model", "load_tokenizer", "resolve_device", "resolve_precision"]


@dataclass(frozen=True)
class Precision:
    """Compute dtype of the forward/backward pass and whether fp16 loss scaling is on."""

    compute_dtype: torch.dtype
    use_grad_scaler: bool

    @property
    def name(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}[
            self.compute_dtype
        ]


def resolve_device(params: TrainingParams, local_rank: int = 0) -> torch.device:
    """``cuda:<local_rank>`` when asked for (or auto and available), else ``cpu``."""
    if params.device == "cuda" or (params.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ParameterError(
                "device='cuda' was requested but torch sees no CUDA GPU. Install a CUDA "
                "build of torch, or set device='cpu' (or 'auto')."
            )
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def resolve_precision(params: TrainingParams, device: torch.device) -> Precision:
    """auto: bf16 on CUDA GPUs that support it, fp32 everywhere else."""
    on_cuda = device.type == "cuda"
    if params.dtype == "auto":
        bf16 = on_cuda and torch.cuda.is_bf16_supported()
        return Precision(torch.bfloat16 if bf16 else torch.float32, use_grad_scaler=False)
    if params.dtype == "bf16":
        if on_cuda and not torch.cuda.is_bf16_supported():
            raise ParameterError(
                "dtype='bf16' was requested but this GPU does not support bfloat16. "
                "Use dtype='fp16' or 'auto'."
            )
        return Precision(torch.bfloat16, use_grad_scaler=False)
    if params.dtype == "fp16":
        return Precision(torch.float16, use_grad_scaler=True)
    return Precision(torch.float32, use_grad_scaler=False)


def load_tokenizer(params: TrainingParams) -> Any:
    """The tokenizer of ``tokenizer_path`` (default: ``model_path``)."""
    from transformers import AutoTokenizer

    path = params.tokenizer_path or params.model_path
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=params.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot load the tokenizer from '{path}' (tokenizer_path/model_path): {exc}. "
            "Point it to a Hugging Face folder with tokenizer files."
        ) from exc


def load_model(params: TrainingParams, device: torch.device | None = None) -> Any:
    """The causal LM of ``model_path`` in fp32 on the CPU, set up for training.

    ``device`` only picks the attention kernel; the recipe moves (or shards) the
    model onto the device after the adapter has prepared it.

    The KV cache is disabled (packed samples would otherwise leak into each
    other) and the packed attention of :mod:`.attention` is selected.
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # per-file bars would break our progress bar

    attn_implementation = select_attention(device or torch.device("cpu"))
    if not (Path(params.model_path) / "config.json").is_file() and Path(params.model_path).is_dir():
        raise ConfigError(
            f"model_path '{params.model_path}' has no config.json. Point model_path to a "
            "Hugging Face model folder (config.json, tokenizer files, *.safetensors), e.g. one "
            "written by save_pretrained()."
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(
            params.model_path,
            dtype=torch.float32,
            attn_implementation=attn_implementation,
            trust_remote_code=params.trust_remote_code,
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot load a causal language model from model_path '{params.model_path}': "
            f"{exc}. Point model_path to a Hugging Face model folder (config.json + weights)."
        ) from exc
    except Exception as exc:
        if type(exc).__name__ != "SafetensorError":
            raise
        raise ConfigError(
            f"The weights in model_path '{params.model_path}' are damaged or incomplete "
            f"({exc}). Copy or save the model again."
        ) from exc
    model.config.use_cache = False
    if params.gradient_checkpointing:
        checkpointing_kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5
            model.activation_checkpointing_enable(checkpointing_kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing_kwargs)
    model.train()
    return model
