"""Packed attention: causal attention inside each sample, never across samples.

A packed micro-batch is one row of concatenated samples. The boundaries reach
the attention layers as keyword arguments of the model's forward (transformers
forwards ``**kwargs`` down to the attention function): ``cu_seq_lens_q/k`` and
``max_length_q/k`` for flash-attn's varlen kernel on GPU, and
``packed_seq_bounds`` (plain ints, so no device sync) for the per-sample SDPA
function registered here, which is exact and the fastest option on CPU.
"""

from __future__ import annotations

import importlib.util
import itertools
from typing import Any

import torch
import torch.nn.functional as F

from .batch import PackedBatch

__all__ = [
    "PACKED_SDPA",
    "packed_attention_kwargs",
    "packed_sdpa_attention",
    "register_packed_attention",
    "select_attention",
]

#: Name under which :func:`packed_sdpa_attention` is registered with transformers.
PACKED_SDPA = "training_hub_packed_sdpa"


@torch.compiler.disable  # a Python loop over samples; compiled layers call it eagerly
def packed_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,  # [1, heads, T, head_dim]
    key: torch.Tensor,  # [1, kv_heads, T, head_dim]
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    packed_seq_bounds: tuple[int, ...] | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal SDPA run separately on each packed sample; returns ``[1, T, heads, head_dim]``."""
    if attention_mask is not None:
        raise ValueError(
            f"{PACKED_SDPA} attention expects packed inputs without an attention mask; "
            "pass packed_seq_bounds (or run the model with another attn_implementation)"
        )
    seq_len = query.shape[2]
    bounds = packed_seq_bounds
    if bounds is None and kwargs.get("cu_seq_lens_q") is not None:
        bounds = tuple(kwargs["cu_seq_lens_q"].tolist())  # compiled models pass tensors only
    if bounds is None:
        bounds = (0, seq_len)
    if bounds[-1] != seq_len:
        raise ValueError(
            f"packed_seq_bounds end at {bounds[-1]} but the sequence has {seq_len} tokens"
        )
    gqa = query.shape[1] != key.shape[1]
    outputs = []
    for start, end in itertools.pairwise(bounds):
        outputs.append(
            F.scaled_dot_product_attention(
                query[:, :, start:end],
                key[:, :, start:end],
                value[:, :, start:end],
                dropout_p=dropout,
                is_causal=True,
                scale=scaling,
                enable_gqa=gqa,
            )
        )
    output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
    return output.transpose(1, 2).contiguous(), None


def register_packed_attention() -> str:
    """Register :func:`packed_sdpa_attention` with transformers (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention)
    return PACKED_SDPA


def select_attention(device: torch.device) -> str:
    """flash-attn's varlen kernel on CUDA when installed, else the per-sample SDPA."""
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return register_packed_attention()


def packed_attention_kwargs(
    host_batch: PackedBatch, device_batch: PackedBatch, *, python_bounds: bool = True
) -> dict[str, Any]:
    """Keyword arguments of the model forward that carry the sample boundaries.

    ``host_batch`` is the CPU copy (bounds as Python ints without a device
    sync); ``device_batch`` holds the tensors the GPU kernels read. Compiled
    models get no Python bounds (``python_bounds=False``): a new tuple per
    batch would make torch.compile recompile.
    """
    cu_seqlens = device_batch.cu_seqlens.to(torch.int32)
    bounds = {"packed_seq_bounds": tuple(host_batch.cu_seqlens.tolist())} if python_bounds else {}
    return {
        **bounds,
        "cu_seq_lens_q": cu_seqlens,
        "cu_seq_lens_k": cu_seqlens,
        "max_length_q": host_batch.max_seqlen,
        "max_length_k": host_batch.max_seqlen,
    }
