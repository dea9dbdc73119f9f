"""Packed attention: causal attention inside each sample, never across samples.

A packed micro-batch is one row of concatenated samples. The boundaries reach
the attention layers as keyword arguments of the model's forward (transformers
forwards ``**kwargs`` down to the attention function): ``cu_seq_lens_q/k`` and
``max_length_q/k`` for the varlen flash kernels on GPU, and ``packed_seq_bounds``
(plain ints, so no device sync) for the per-sample loop. ``packed_seq_masks``
(optional, one ``[L, L]`` boolean mask or ``None`` per sample) replaces plain
causal attention inside the samples that have one (GRPO's shared-prompt groups).

The attention function registered here picks its kernel per call:

* CUDA tensors in bf16/fp16: one call of torch's own varlen flash kernel
  (``torch.nn.attention.varlen``, torch >= 2.10) over the whole packed row, so no
  flash-attn package is needed;
* anything else (CPU, fp32, or samples with masks): causal (or masked) SDPA run
  separately on each sample, which is exact and the fastest option on CPU.

flash-attn's ``flash_attention_2`` is used instead when that package is installed.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import itertools
from collections.abc import Callable
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
    "varlen_flash_available",
]

#: Name under which :func:`packed_sdpa_attention` is registered with transformers.
PACKED_SDPA = "training_hub_packed_sdpa"


@functools.cache
def _causal_varlen_flash() -> tuple[Callable[..., torch.Tensor], bool] | None:
    """torch's varlen flash attention made causal, and whether it takes ``enable_gqa``.

    ``None`` before torch 2.10. torch 2.10 takes ``is_causal``; later versions
    express causality as the window ``(-1, 0)``.
    """
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    parameters = inspect.signature(varlen_attn).parameters
    causal = {"window_size": (-1, 0)} if "window_size" in parameters else {"is_causal": True}
    return functools.partial(varlen_attn, **causal), "enable_gqa" in parameters


def varlen_flash_available() -> bool:
    """Whether packed bf16/fp16 attention on CUDA runs as one varlen flash call."""
    return torch.cuda.is_available() and _causal_varlen_flash() is not None


def _flash_dtype(query: torch.Tensor, value: torch.Tensor) -> torch.dtype | None:
    """The 16-bit dtype the flash kernel should run in on CUDA, else ``None``.

    Under autocast that is the autocast dtype: Hugging Face models apply rotary
    embeddings in the residual stream's dtype, so query and key arrive in fp32
    even when the projections ran in bf16 (SDPA would be cast by autocast too).
    """
    if not query.is_cuda:
        return None
    if torch.is_autocast_enabled("cuda"):
        dtype = torch.get_autocast_dtype("cuda")
    else:
        dtype = value.dtype
    return dtype if dtype in (torch.bfloat16, torch.float16) else None


def _varlen_flash_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu_seqlens: torch.Tensor,
    max_seqlen: int,
    scaling: float | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    """One flash call over the packed row: ``[1, heads, T, d]`` in, ``[1, T, heads, d]`` out."""
    found = _causal_varlen_flash()
    assert found is not None
    varlen, takes_enable_gqa = found

    def rows(tensor: torch.Tensor) -> torch.Tensor:  # [1, heads, T, d] -> contiguous [T, heads, d]
        return tensor[0].transpose(0, 1).to(dtype).contiguous()

    q, k, v = rows(query), rows(key), rows(value)
    extra: dict[str, Any] = {}
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        if takes_enable_gqa:
            extra["enable_gqa"] = True
        else:  # older torch: give every query head its own key/value head
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
    output = varlen(q, k, v, cu_seqlens, cu_seqlens, max_seqlen, max_seqlen, scale=scaling,
                    **extra)
    return output.unsqueeze(0)


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
    packed_seq_masks: tuple[torch.Tensor | None, ...] | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention inside each packed sample; returns ``[1, T, heads, head_dim]``.

    One varlen flash call for bf16/fp16 CUDA tensors (when torch has it), else
    SDPA run separately on each sample. ``packed_seq_masks[i]``, when given and
    not ``None``, is sample ``i``'s ``[L, L]`` boolean mask (True: attends) in
    place of the causal one.
    """
    if attention_mask is not None:
        raise ValueError(
            f"{PACKED_SDPA} attention expects packed inputs without an attention mask; "
            "pass packed_seq_bounds (or run the model with another attn_implementation)"
        )
    seq_len = query.shape[2]
    cu_seqlens = kwargs.get("cu_seq_lens_q")
    flash_dtype = _flash_dtype(query, value)
    if packed_seq_masks is not None and all(mask is None for mask in packed_seq_masks):
        packed_seq_masks = None
    if (
        cu_seqlens is not None
        and packed_seq_masks is None
        and flash_dtype is not None
        and dropout == 0.0
        and query.shape[-1] % 8 == 0  # head sizes the flash kernels take
        and query.shape[-1] <= 256
        and _causal_varlen_flash() is not None
    ):
        max_seqlen = kwargs.get("max_length_q")
        if max_seqlen is None:
            max_seqlen = int((cu_seqlens[1:] - cu_seqlens[:-1]).max())
        output = _varlen_flash_attention(
            query, key, value, cu_seqlens.to(torch.int32), int(max_seqlen), scaling, flash_dtype
        )
        return output, None
    bounds = packed_seq_bounds
    if bounds is None and cu_seqlens is not None:
        bounds = tuple(cu_seqlens.tolist())  # compiled models pass tensors only
    if bounds is None:
        bounds = (0, seq_len)
    if bounds[-1] != seq_len:
        raise ValueError(
            f"packed_seq_bounds end at {bounds[-1]} but the sequence has {seq_len} tokens"
        )
    gqa = query.shape[1] != key.shape[1]
    # split (not slicing): its backward concatenates the gradients once, where each
    # slice's backward would fill a zero tensor of the whole row.
    lengths = [end - start for start, end in itertools.pairwise(bounds)]
    masks = packed_seq_masks or (None,) * len(lengths)
    if len(masks) != len(lengths):
        raise ValueError(f"{len(masks)} packed_seq_masks for {len(lengths)} packed samples")
    outputs = [
        F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=mask is None, scale=scaling,
            enable_gqa=gqa,
        )
        for q, k, v, mask in zip(
            query.split(lengths, dim=2),
            key.split(lengths, dim=2),
            value.split(lengths, dim=2),
            masks,
            strict=True,
        )
    ]
    output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
    return output.transpose(1, 2).contiguous(), None


def register_packed_attention() -> str:
    """Register :func:`packed_sdpa_attention` with transformers (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention)
    return PACKED_SDPA


def select_attention(device: torch.device) -> str:
    """flash-attn's ``flash_attention_2`` on CUDA when installed, else the function above."""
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
