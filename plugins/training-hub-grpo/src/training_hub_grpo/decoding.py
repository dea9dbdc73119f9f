"""The model calls of the sampling loop: a fast decoder for Llama-family models, else transformers.

A decoded token of a small model costs little arithmetic, and transformers' forward
does a lot around it on every call (attention masks built from scratch, cache objects,
keyword plumbing, output records). :class:`LlamaFamilyDecoder` runs the same computation
by calling the model's own modules:

* the prompts are prefilled once, into a KV cache preallocated for the whole completion
  (``[rows, kv_heads, prompt + max_tokens, head_dim]`` per layer) and written in place;
* a decode step is: embedding -> rotary embedding (once, for every layer) -> per layer:
  input norm, q/k/v projections, rotary, cache write, SDPA over the filled part of the
  cache with the padding mask, output projection, post-attention norm, MLP -> final norm
  -> LM head on the one new position;
* the cache rows are repeated for the completions of a group (one prefill per prompt) and
  compacted when rows finish (:meth:`~LlamaFamilyDecoder.keep`).

Norms, projections, MLPs, the rotary embedding and the LM head are called as modules,
so LoRA layers (peft), quantized linears and autocast behave as in the model's forward.
:func:`fast_decoder` knows Llama, Mistral, Qwen2 and Qwen3 models (plain or peft-wrapped)
and answers ``None`` for any other model, for a sliding window shorter than the
sequence, for sharded (FSDP) models and for hooks on the modules it bypasses; the
sampling loop then uses :class:`TransformersDecoder`, the model's own forward with a
``DynamicCache``. Both compute the same logits up to float rounding.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import torch
import torch.nn.functional as F

__all__ = ["FAST_MODEL_TYPES", "Decoder", "LlamaFamilyDecoder", "LlamaFamilyModel",
           "TransformersDecoder", "fast_model"]

#: ``config.model_type`` of the models whose decoder layers :class:`LlamaFamilyDecoder` runs.
FAST_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


class Decoder(Protocol):
    """What the sampling loop asks of a model: logits of the last position, a cache."""

    def prefill(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits ``[prompts, vocab]`` after left-padded ``input_ids`` (``mask``: 1 = token)."""

    def repeat(self, times: int) -> None:
        """Each row of the cache ``times`` times in a row (the completions of a group)."""

    def keep(self, rows: torch.Tensor) -> None:
        """Only the cache rows ``rows`` (indices) from now on."""

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``[rows, vocab]`` after appending ``tokens`` (one per row)."""


class TransformersDecoder:
    """The generic path: the model's forward with a ``DynamicCache``, for any causal LM."""

    def __init__(self, model: Any) -> None:
        self.model = model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
        parameters = inspect.signature(base.forward).parameters
        # ``cache`` (transformers >= 5.2x) or ``past_key_values`` (older)
        self.cache_key = "cache" if "cache" in parameters else "past_key_values"
        self.cache: Any = None
        self.mask = self.next_position = torch.empty(0)

    def prefill(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from transformers import DynamicCache

        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                         use_cache=True, logits_to_keep=1, **{self.cache_key: DynamicCache()})
        self.cache = getattr(out, self.cache_key)
        self.mask, self.next_position = mask, positions[:, -1:] + 1
        return out.logits[:, -1]

    def repeat(self, times: int) -> None:
        self.cache.batch_repeat_interleave(times)
        self.mask = self.mask.repeat_interleave(times, dim=0)
        self.next_position = self.next_position.repeat_interleave(times, dim=0)

    def keep(self, rows: torch.Tensor) -> None:
        self.cache.batch_select_indices(rows)
        self.mask, self.next_position = self.mask[rows], self.next_position[rows]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
        out = self.model(input_ids=tokens.unsqueeze(1), attention_mask=self.mask,
                         position_ids=self.next_position, use_cache=True,
                         **{self.cache_key: self.cache})
        self.cache = getattr(out, self.cache_key)
        self.next_position = self.next_position + 1
        return out.logits[:, -1]


#: Norm and MLP classes whose computation :class:`_LayerPlan` may run fused (same math).
_RMS_NORMS = frozenset({"LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm", "Qwen3RMSNorm"})
_MLPS = frozenset({"LlamaMLP", "MistralMLP", "Qwen2MLP", "Qwen3MLP"})
#: Most bytes of fused (concatenated) projection weights a rollout may copy; bigger models
#: call the projections one by one (their arithmetic, not the calls, is what costs there).
FUSED_WEIGHTS_BUDGET = 512 * 2**20


def _plain_linear(module: Any) -> bool:
    return type(module) is torch.nn.Linear and not _has_hooks(module)


def _fused_linear(modules: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One weight (and bias) computing the outputs of ``modules`` side by side."""
    weight = torch.cat([m.weight for m in modules])
    if all(m.bias is None for m in modules):
        return weight, None
    return weight, torch.cat([m.bias if m.bias is not None else
                              m.weight.new_zeros(m.out_features) for m in modules])


class _Norm:
    """An RMS norm module, as one ``F.rms_norm`` call on float32 inputs."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.fused = type(module).__name__ in _RMS_NORMS and not _has_hooks(module) and \
            module.weight.dtype == torch.float32
        self.shape = tuple(module.weight.shape)

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.fused and hidden.dtype == torch.float32:
            return F.rms_norm(hidden, self.shape, self.module.weight,
                              self.module.variance_epsilon)
        return self.module(hidden)


class _LayerPlan:
    """How one decoder layer is computed: its modules, some fused into one matmul."""

    def __init__(self, layer: Any, fuse: bool) -> None:
        attention = layer.self_attn
        self.input_norm = _Norm(layer.input_layernorm)
        self.post_norm = _Norm(layer.post_attention_layernorm)
        self.projections = [attention.q_proj, attention.k_proj, attention.v_proj]
        self.qkv = _fused_linear(self.projections) if fuse and \
            all(_plain_linear(m) for m in self.projections) else None
        self.q_norm = getattr(attention, "q_norm", None)  # Qwen3: per-head norms
        self.k_norm = getattr(attention, "k_norm", None)
        self.o_proj = attention.o_proj
        self.mlp = layer.mlp
        self.gate_up = None
        mlp = layer.mlp
        if fuse and type(mlp).__name__ in _MLPS and not _has_hooks(mlp) and \
                type(getattr(mlp, "act_fn", None)).__name__ in ("SiLUActivation", "SiLU") and \
                all(_plain_linear(m) for m in (mlp.gate_proj, mlp.up_proj, mlp.down_proj)):
            self.gate_up = _fused_linear([mlp.gate_proj, mlp.up_proj])

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """Queries, keys and values of ``hidden`` side by side: [..., q + k + v features]."""
        if self.qkv is not None:
            return F.linear(hidden, *self.qkv)
        return torch.cat([m(hidden) for m in self.projections], dim=-1)

    def feed_forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.gate_up is None:
            return self.mlp(hidden)
        gate, up = F.linear(hidden, *self.gate_up).chunk(2, dim=-1)
        return self.mlp.down_proj(F.silu(gate) * up)


def _fused_bytes(layers: list[Any]) -> int:
    names = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj",
             "mlp.up_proj")
    return sum(layer.get_submodule(name).weight.nbytes for layer in layers for name in names)


class LlamaFamilyModel:
    """A Llama-family causal LM prepared for :class:`LlamaFamilyDecoder` (one per rollout:
    the fused weights are copies of the current ones)."""

    def __init__(self, causal_lm: Any, window: int | None) -> None:
        decoder = causal_lm.model
        self.config = causal_lm.config
        self.embed = decoder.embed_tokens
        self.rotary = decoder.rotary_emb
        layers = list(decoder.layers)
        fuse = _fused_bytes(layers) <= FUSED_WEIGHTS_BUDGET
        self.layers = [_LayerPlan(layer, fuse) for layer in layers]
        self.norm = _Norm(decoder.norm)
        self.lm_head = causal_lm.lm_head
        attention = layers[0].self_attn
        self.head_dim: int = attention.head_dim
        self.groups: int = attention.num_key_value_groups  # query heads per key/value head
        self.scaling: float = attention.scaling
        self.heads: int = self.config.num_attention_heads
        self.kv_heads: int = self.config.num_key_value_heads
        self.window = window

    def decoder(self, capacity: int) -> LlamaFamilyDecoder | None:
        """A decoder for rows of up to ``capacity`` positions; None when a sliding window
        would cut attention short (the generic path applies it)."""
        if self.window is not None and self.window < capacity:
            return None
        return LlamaFamilyDecoder(self, capacity)


class LlamaFamilyDecoder:
    """The decoder layers of a :class:`LlamaFamilyModel` run by hand with a KV cache
    preallocated for ``capacity`` positions (longest prompt + max_tokens)."""

    def __init__(self, model: LlamaFamilyModel, capacity: int) -> None:
        self.model = model
        self.capacity = capacity
        self.keys: list[torch.Tensor] = []  # per layer [rows, kv_heads, capacity, head_dim]
        self.values: list[torch.Tensor] = []
        self.filled = 0  # positions of the cache written so far
        self.key_bias = torch.empty(0)  # [rows, capacity]: 0 for a token, -inf for padding
        self.next_position = torch.empty(0)  # [rows, 1]

    def _rotary(self, hidden: torch.Tensor, positions: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sign-folded sin [rows, positions, 1, head_dim] of HF's rotary formula
        ``x * cos + cat(-x2, x1) * sin``, applied as ``x * cos + roll(x) * signed_sin``."""
        cos, sin = self.model.rotary(hidden, positions)
        half = sin.shape[-1] // 2
        signed_sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)
        return cos.unsqueeze(2), signed_sin.unsqueeze(2)

    def _attention_inputs(self, plan: _LayerPlan, hidden: torch.Tensor, cos: torch.Tensor,
                          sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rotated queries and keys, and values, [rows, positions, heads, head_dim]."""
        model = self.model
        rows, length = hidden.shape[:2]
        states = plan.project(plan.input_norm(hidden)).view(rows, length, -1, model.head_dim)
        query_key, value = states[:, :, :model.heads + model.kv_heads], \
            states[:, :, model.heads + model.kv_heads:]
        if plan.q_norm is not None:
            query_key = torch.cat([plan.q_norm(query_key[:, :, :model.heads]),
                                   plan.k_norm(query_key[:, :, model.heads:])], dim=2)
        half = model.head_dim // 2
        query_key = query_key * cos + query_key.roll(half, dims=-1) * sin
        return query_key[:, :, :model.heads], query_key[:, :, model.heads:], value

    def _finish_layer(self, plan: _LayerPlan, residual: torch.Tensor, attended: torch.Tensor
                      ) -> torch.Tensor:
        hidden = residual + plan.o_proj(attended)
        return hidden + plan.feed_forward(plan.post_norm(hidden))

    def prefill(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        model = self.model
        rows, length = input_ids.shape
        real = mask.bool()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        hidden = model.embed(input_ids)
        cos, sin = self._rotary(hidden, positions)
        causal = torch.ones((length, length), dtype=torch.bool, device=mask.device).tril()
        # A padding position attends to itself only (never a row without keys); real
        # positions never attend to padding.
        allowed = (causal & real[:, None, :]) | torch.eye(length, dtype=torch.bool,
                                                          device=mask.device)
        allowed = allowed.unsqueeze(1)  # [rows, 1, queries, keys]
        self.keys, self.values = [], []
        for plan in model.layers:
            query, key, value = self._attention_inputs(plan, hidden, cos, sin)
            query, key, value = query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
            key_cache = key.new_empty((rows, model.kv_heads, self.capacity, model.head_dim))
            value_cache = value.new_empty(key_cache.shape)
            key_cache[:, :, :length].copy_(key)
            value_cache[:, :, :length].copy_(value)
            self.keys.append(key_cache)
            self.values.append(value_cache)
            attended = F.scaled_dot_product_attention(
                query, key, value, attn_mask=allowed, scale=model.scaling,
                enable_gqa=model.groups > 1)
            hidden = self._finish_layer(plan, hidden,
                                        attended.transpose(1, 2).reshape(rows, length, -1))
        self.filled = length
        self.key_bias = torch.zeros((rows, self.capacity), dtype=torch.float32,
                                    device=mask.device)
        self.key_bias[:, :length].masked_fill_(~real, float("-inf"))
        self.next_position = positions[:, -1:] + 1
        return model.lm_head(model.norm(hidden[:, -1:]))[:, -1]

    def repeat(self, times: int) -> None:
        self.keys = [k.repeat_interleave(times, dim=0) for k in self.keys]
        self.values = [v.repeat_interleave(times, dim=0) for v in self.values]
        self.key_bias = self.key_bias.repeat_interleave(times, dim=0)
        self.next_position = self.next_position.repeat_interleave(times, dim=0)

    def keep(self, rows: torch.Tensor) -> None:
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]
        self.key_bias, self.next_position = self.key_bias[rows], self.next_position[rows]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.filled >= self.capacity:
            raise RuntimeError(f"the KV cache holds {self.capacity} positions, all used")
        model = self.model
        rows, kv_heads, dim = tokens.shape[0], model.kv_heads, model.head_dim
        column, self.filled = self.filled, self.filled + 1
        hidden = model.embed(tokens.unsqueeze(1))  # [rows, 1, hidden]
        cos, sin = self._rotary(hidden, self.next_position)
        # One query position: the query heads of a key/value head act as its query rows
        # (no repeated keys), and the padding bias is shared by all layers.
        bias = self.key_bias[:, :self.filled].repeat_interleave(kv_heads, dim=0).unsqueeze(1)
        for plan, key_cache, value_cache in zip(model.layers, self.keys, self.values,
                                                strict=True):
            query, key, value = self._attention_inputs(plan, hidden, cos, sin)
            key_cache[:, :, column].copy_(key[:, 0])
            value_cache[:, :, column].copy_(value[:, 0])
            keys = key_cache[:, :, :self.filled].reshape(rows * kv_heads, self.filled, dim)
            values = value_cache[:, :, :self.filled].reshape(rows * kv_heads, self.filled, dim)
            scores = torch.baddbmm(bias.to(query.dtype), query.reshape(rows * kv_heads, -1, dim),
                                   keys.transpose(1, 2), alpha=model.scaling)
            attended = torch.bmm(scores.softmax(dim=-1, dtype=torch.float32).to(values.dtype),
                                 values)
            hidden = self._finish_layer(plan, hidden, attended.reshape(rows, 1, -1))
        self.next_position = self.next_position + 1
        return model.lm_head(model.norm(hidden))[:, -1]


def _sliding_window(config: Any, layers: list[Any]) -> int | None:
    """The shortest sliding window of any layer, None when attention is full everywhere."""
    windows = [getattr(layer.self_attn, "sliding_window", None) for layer in layers]
    if config.model_type == "mistral":  # Mistral's attention reads the window from its config
        windows.append(getattr(config, "sliding_window", None))
    found = [w for w in windows if w is not None]
    return min(found) if found else None


def _bypassed_modules(causal_lm: Any) -> list[torch.nn.Module]:
    """The modules whose forward the fast decoder does not call (it calls their parts)."""
    decoder = causal_lm.model
    return [causal_lm, decoder, *decoder.layers, *(layer.self_attn for layer in decoder.layers)]


def _has_hooks(module: torch.nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks
                or getattr(module, "_hf_hook", None) is not None)


def _is_sharded(model: torch.nn.Module) -> bool:
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # a torch built without distributed
        return False
    return any(isinstance(module, FSDPModule) for module in model.modules())


def fast_model(model: Any) -> LlamaFamilyModel | None:
    """``model`` prepared for the fast decoder, or None when it is not a model the fast
    decoder runs exactly (the caller then uses :class:`TransformersDecoder`)."""
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
    config = getattr(causal_lm, "config", None)
    if getattr(config, "model_type", None) not in FAST_MODEL_TYPES:
        return None
    decoder = getattr(causal_lm, "model", None)
    parts = ("embed_tokens", "rotary_emb", "layers", "norm")
    if decoder is None or not hasattr(causal_lm, "lm_head") or \
            not all(hasattr(decoder, part) for part in parts) or len(decoder.layers) == 0:
        return None
    layers = list(decoder.layers)
    layer_parts = ("input_layernorm", "post_attention_layernorm", "mlp", "self_attn")
    attention_parts = ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim", "scaling",
                       "num_key_value_groups")
    if not all(hasattr(layer, part) for layer in layers for part in layer_parts) or \
            not all(hasattr(layer.self_attn, part) for layer in layers
                    for part in attention_parts):
        return None
    if any(_has_hooks(module) for module in _bypassed_modules(causal_lm)) or \
            _is_sharded(causal_lm):
        return None
    return LlamaFamilyModel(causal_lm, _sliding_window(config, layers))
