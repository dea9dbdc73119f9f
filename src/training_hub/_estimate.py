"""``estimate``: memory per device of a native-engine run, from the model's config alone.

training_hub 0.11.2's signature and return value (``low, expected, high =
estimate(...)``), with every figure broken down and measured rather than guessed:

* parameter, gradient and optimizer-state bytes come from the model built on
  PyTorch's ``meta`` device (no weights loaded), with LoRA adapters added by peft
  and OSFT's factors sized with the osft plugin's own rank rule;
* activations are the bytes autograd keeps for the backward pass, counted with
  ``torch.autograd.graph.saved_tensors_hooks`` during one forward pass on the meta
  device of ``tokens_per_gpu`` tokens (with and without gradient checkpointing),
  with attention saving what the flash kernels save (q, k, v, output, logsumexp);
* the LM head is computed on loss tokens only, as the engine does (in chunks of
  4096 rows on GPUs).

The peak is the larger of the first optimizer step (weights, gradients, AdamW's
two moments and its temporaries) and a steady-state step (weights, moments,
activations and the LM head, gradients being filled). docs/estimate.md gives the
measured error. torch and transformers are imported only when it runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ._errors import ConfigError, ParameterError

__all__ = ["METHODS", "MemoryEstimate", "estimate"]

_GIB = 1024**3
_GPU_LOSS_CHUNK = 4096  # the engine's chunk of LM-head rows on GPUs (engine/recipe.py)
METHODS = {"sft": "sft", "osft": "osft", "lora": "lora", "lora_sft": "lora", "qlora": "lora"}


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per device. Iterates as ``(low, expected, high)``, training_hub 0.11.2's tuple."""

    training_method: str
    device: str
    num_gpus: int
    tokens_per_gpu: int
    gradient_checkpointing: bool
    parameters: int
    trainable_parameters: int
    weights: int
    gradients: int
    optimizer_states: int
    adapter_buffers: int
    activations: int
    activations_without_checkpointing: int
    activations_with_checkpointing: int
    lm_head: int
    low: int
    expected: int
    high: int
    gpu_memory: int

    @property
    def fits(self) -> bool:
        """Whether the expected peak fits in ``gpu_memory``."""
        return self.expected <= self.gpu_memory

    @property
    def fits_with_margin(self) -> bool:
        """Whether even the high estimate fits in ``gpu_memory``."""
        return self.high <= self.gpu_memory

    def __iter__(self) -> Any:
        return iter((self.low, self.expected, self.high))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fits": self.fits, "fits_with_margin": self.fits_with_margin}

    def report(self) -> str:
        def gib(value: int) -> str:
            return f"{value / _GIB:8.2f} GiB"

        where = f"per {'GPU' if self.device == 'cuda' else 'process'}"
        lines = [
            f"{self.training_method}: {self.parameters:,} parameters "
            f"({self.trainable_parameters:,} trained), {self.tokens_per_gpu:,} tokens per "
            f"micro-batch, {self.num_gpus} {'GPUs' if self.device == 'cuda' else 'processes'} "
            f"(FSDP2-sharded: {self.device == 'cuda' and self.num_gpus > 1})",
            f"  weights            {gib(self.weights)}",
            f"  gradients          {gib(self.gradients)}",
            f"  optimizer states   {gib(self.optimizer_states)}",
        ]
        if self.adapter_buffers:
            lines.append(f"  OSFT factors       {gib(self.adapter_buffers)}")
        lines += [
            f"  activations        {gib(self.activations)}  (without gradient checkpointing "
            f"{gib(self.activations_without_checkpointing).strip()}, with "
            f"{gib(self.activations_with_checkpointing).strip()})",
            f"  LM head (loss tokens only) {gib(self.lm_head).strip()}",
            f"peak {where}: low {gib(self.low).strip()}, expected "
            f"{gib(self.expected).strip()}, high {gib(self.high).strip()}",
        ]
        if self.device == "cuda":
            verdict = "fits" if self.fits_with_margin else ("fits, tight" if self.fits else
                                                            "does NOT fit")
            lines.append(f"{verdict} in {self.gpu_memory / _GIB:.1f} GiB "
                         "(CUDA context and NCCL buffers, ~0.5-1 GiB, come on top)")
        return "\n".join(lines)


def _tokens_per_gpu(batch_size: int | None, max_seq_len: int | None,
                    max_tokens_per_gpu: int | None, num_gpus: int) -> int:
    """The peer's rule: the micro-batch is bounded by ``max_tokens_per_gpu`` and by the
    tokens of one batch spread over the GPUs."""
    per_batch = None
    if batch_size is not None and max_seq_len is not None:
        per_batch = math.ceil(batch_size * max_seq_len / num_gpus)
    candidates = [t for t in (per_batch, max_tokens_per_gpu) if t is not None]
    if not candidates:
        raise ParameterError(
            "estimate: give max_tokens_per_gpu, or batch_size and max_seq_len, so the size of "
            "a micro-batch is known."
        )
    tokens = min(candidates)
    if max_seq_len is not None and max_tokens_per_gpu is not None and \
            max_seq_len > max_tokens_per_gpu:
        raise ParameterError(
            f"estimate: max_seq_len ({max_seq_len}) is larger than max_tokens_per_gpu "
            f"({max_tokens_per_gpu}); the longest sample must fit in one micro-batch."
        )
    return max(1, int(tokens))


def _meta_model(model_path: str, dtype: Any, trust_remote_code: bool) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(model_path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"estimate: cannot read the config of model_path '{model_path}': {exc}. Give a "
            "Hugging Face model folder (config.json) or a hub id that is cached or reachable."
        ) from None
    _register_estimate_attention()
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(  # type: ignore[no-untyped-call]
            config, dtype=dtype, attn_implementation=_ESTIMATE_ATTENTION,
            trust_remote_code=trust_remote_code,
        )
    model.config.use_cache = False
    model.train()
    return model


_ESTIMATE_ATTENTION = "training_hub_estimate"


def _register_estimate_attention() -> None:
    """An attention function that saves for backward what flash attention saves."""
    import torch
    from transformers import AttentionInterface

    class FlashLike(torch.autograd.Function):
        """Saves exactly what the flash kernels save: q, k, v (GQA heads not expanded),
        the output and the fp32 logsumexp."""

        @staticmethod
        def forward(ctx: Any, query: Any, key: Any, value: Any) -> Any:
            out = torch.empty_like(query)
            logsumexp = query.new_empty(query.shape[:3], dtype=torch.float32)
            ctx.save_for_backward(query, key, value, out, logsumexp)
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:  # never run: the estimate only counts
            raise NotImplementedError

    def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                  scaling: float | None = None, dropout: float = 0.0,
                  **kwargs: Any) -> tuple[Any, None]:
        out = FlashLike.apply(query, key, value)  # type: ignore[no-untyped-call]
        return out.transpose(1, 2).contiguous(), None

    AttentionInterface.register(_ESTIMATE_ATTENTION, attention)


def _saved_bytes(run: Any, parameters: Any) -> int:
    """Bytes of the tensors autograd saves while ``run()`` runs, parameters excluded,
    each tensor (or view of one) counted once."""
    import torch

    param_ids = {id(p) for p in parameters}
    counted: dict[int, int] = {}

    def root(tensor: Any) -> Any:
        while tensor._base is not None:
            tensor = tensor._base
        return tensor

    def pack(tensor: Any) -> Any:
        base = root(tensor)
        if id(tensor) not in param_ids and id(base) not in param_ids:
            counted[id(base)] = max(counted.get(id(base), 0),
                                    base.numel() * base.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        keep = run()  # noqa: F841 - the graph (and so the saved tensors) must stay alive
        total = sum(counted.values())
    return total


def _decoder_activations(model: Any, tokens: int, checkpointing: bool) -> int:
    import warnings

    import torch

    with warnings.catch_warnings():  # transformers 5 renamed these; both names work
        warnings.simplefilter("ignore", FutureWarning)
        if checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_disable()
    input_ids = torch.zeros(1, tokens, dtype=torch.long, device="meta")
    decoder = model.get_decoder()
    saved = _saved_bytes(lambda: decoder(input_ids=input_ids).last_hidden_state,
                         list(model.parameters()))
    if checkpointing:
        # Each layer's activations exist again while it is recomputed in the backward pass.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model.gradient_checkpointing_disable()
        layers = list(getattr(decoder, "layers", []))
        if layers:
            hidden = torch.zeros(1, tokens, model.config.hidden_size, device="meta",
                                 dtype=next(model.parameters()).dtype)
            saved += _saved_bytes(lambda: _one_layer(decoder, layers[0], hidden),
                                  list(model.parameters()))
    return saved


def _one_layer(decoder: Any, layer: Any, hidden: Any) -> Any:
    import torch

    hidden = hidden.requires_grad_(True)
    positions = torch.arange(hidden.shape[1], device="meta").unsqueeze(0)
    rotary = getattr(decoder, "rotary_emb", None)
    extra = {"position_embeddings": rotary(hidden, positions)} if rotary is not None else {}
    out = layer(hidden, position_ids=positions, **extra)
    return out[0] if isinstance(out, tuple) else out


def _lm_head_bytes(model: Any, loss_tokens: int, device: str) -> int:
    """Peak bytes of the loss-token-only LM head: the saved logits plus their gradient."""
    import torch
    import torch.nn.functional as F

    head = model.get_output_embeddings()
    rows = min(loss_tokens, _GPU_LOSS_CHUNK) if device == "cuda" else loss_tokens
    hidden = torch.zeros(rows, model.config.hidden_size, device="meta",
                         dtype=head.weight.dtype, requires_grad=True)
    targets = torch.zeros(rows, dtype=torch.long, device="meta")
    saved = _saved_bytes(
        lambda: F.cross_entropy(F.linear(hidden, head.weight).float(), targets,
                                reduction="sum"),
        list(model.parameters()),
    )
    vocab = int(head.weight.shape[0])
    return int(saved) + rows * vocab * 4  # the fp32 gradient of the logits in the backward pass


def _osft_factors(model: Any, unfreeze_rank_ratio: float) -> int:
    """Bytes of OSFT's fp32 buffers (U_h, S_h, V_h and the free basis) for its targets."""
    try:
        from training_hub_osft.algorithm import DEFAULT_TARGET_PATTERNS
        from training_hub_osft.osft import find_target_linears, frozen_rank
    except ImportError:
        raise ParameterError(
            "estimate(training_method='osft') sizes OSFT's factors with the osft plugin: "
            "pip install training-hub-osft."
        ) from None
    total = 0
    for module in find_target_linears(model, list(DEFAULT_TARGET_PATTERNS)).values():
        out_features, in_features = module.weight.shape
        rank = frozen_rank(module.weight.shape, unfreeze_rank_ratio)
        smaller = min(out_features, in_features)
        total += 4 * (out_features * rank + rank + in_features * rank + smaller * (smaller - rank))
    return total


def _add_lora(model: Any, lora_r: int) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
        from training_hub_lora.algorithm import LoRAParams
    except ImportError:
        raise ParameterError(
            "estimate(training_method='lora') adds the adapters with the lora plugin: "
            "pip install training-hub-lora."
        ) from None
    fields = LoRAParams.model_fields
    config = LoraConfig(
        r=lora_r,
        lora_alpha=fields["lora_alpha"].get_default() if "lora_alpha" in fields else 2 * lora_r,
        lora_dropout=fields["lora_dropout"].get_default(),
        target_modules=list(fields["target_modules"].get_default(call_default_factory=True)),
    )
    return get_peft_model(model, config)


def estimate(
    training_method: str = "sft",
    num_gpus: int = 8,
    gpu_memory: int = 85899345920,
    model_path: str = "ibm-granite/granite-3.3-8b-instruct",
    batch_size: int | None = None,
    max_seq_len: int | None = None,
    max_tokens_per_gpu: int | None = None,
    use_liger: bool | None = None,
    verbose: int = 1,
    trust_remote_code: bool = False,
    unfreeze_rank_ratio: float = 0.25,
    lora_r: int = 32,
    *,
    device: Literal["cuda", "cpu"] = "cuda",
    gradient_checkpointing: bool = False,
) -> MemoryEstimate:
    """Memory per device of training ``model_path`` with ``training_method`` on the engine.

    ``training_method``: sft, osft, lora (lora_sft). ``num_gpus`` shard the weights,
    gradients and optimizer states (FSDP2). ``gpu_memory``: bytes per GPU. The micro-batch
    is ``max_tokens_per_gpu`` tokens (or ``batch_size * max_seq_len / num_gpus``, whichever
    is smaller). ``use_liger`` changes nothing on the native engine (its LM head already
    computes loss tokens only). ``verbose``: 0 silent, 1 the peak, 2 the breakdown.
    ``device="cpu"`` estimates a CPU run (fp32, per process, peak RSS growth).
    Needs the model's config only: the model is built on the meta device.
    """
    import torch

    method = METHODS.get(training_method.lower())
    if method is None:
        raise ParameterError(
            f"estimate: training_method={training_method!r} is not one of "
            f"{', '.join(sorted(METHODS))}."
        )
    if num_gpus < 1:
        raise ParameterError(f"estimate: num_gpus must be at least 1, got {num_gpus}.")
    if training_method.lower() == "qlora":
        raise ParameterError(
            "estimate: 4-bit QLoRA is not estimated by the native engine's estimator; use "
            "training_method='lora'."
        )
    tokens = _tokens_per_gpu(batch_size, max_seq_len, max_tokens_per_gpu, num_gpus)
    on_gpu = device == "cuda"
    sharded = on_gpu and num_gpus > 1
    dtype = torch.bfloat16 if on_gpu else torch.float32
    model = _meta_model(model_path, dtype, trust_remote_code)
    lm_head = _lm_head_bytes(model, tokens, device)
    adapter_buffers = _osft_factors(model, unfreeze_rank_ratio) if method == "osft" else 0
    if method == "lora":
        model = _add_lora(model, lora_r)
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad) \
        if method == "lora" else parameters
    with_ckpt = _decoder_activations(model, tokens, checkpointing=True)
    without_ckpt = _decoder_activations(model, tokens, checkpointing=False)
    activations = with_ckpt if gradient_checkpointing else without_ckpt

    shards = num_gpus if sharded else 1
    # The engine keeps fp32 parameters (the master copy) and computes in bf16 on GPUs.
    weights = 4 * parameters // shards
    if on_gpu:
        # bf16 copies of the weights in use: autocast's cast cache on one GPU, two
        # all-gathered layers (the current one and the prefetched next) under FSDP2.
        layers = max(1, len(list(getattr(model.get_decoder(), "layers", [])) or [1]))
        weights += 2 * parameters if not sharded else 2 * 2 * parameters // layers
    gradients = 4 * trainable // shards
    optimizer_states = 8 * trainable // shards
    # AdamW (foreach) holds temporaries of about one fp32 copy of the trained parameters.
    adam_temporaries = 4 * trainable // shards
    # On CPU the engine fixes glibc's mmap threshold (engine/cpu_memory.py), so freed
    # temporaries leave the process and RSS follows the live tensors counted here.
    first_step = weights + adapter_buffers + gradients + optimizer_states + adam_temporaries
    steady = weights + adapter_buffers + optimizer_states + activations + lm_head
    expected = max(first_step, steady + gradients // 2)
    low = max(first_step - adam_temporaries, steady)
    high = int(max(first_step, steady + gradients) * 1.15)
    result = MemoryEstimate(
        training_method=training_method, device=device, num_gpus=num_gpus,
        tokens_per_gpu=tokens, gradient_checkpointing=gradient_checkpointing,
        parameters=parameters, trainable_parameters=trainable, weights=weights,
        gradients=gradients, optimizer_states=optimizer_states,
        adapter_buffers=adapter_buffers, activations=activations,
        activations_without_checkpointing=without_ckpt,
        activations_with_checkpointing=with_ckpt, lm_head=lm_head,
        low=int(low), expected=int(expected), high=high, gpu_memory=int(gpu_memory),
    )
    if verbose >= 2:
        print(result.report())
    elif verbose == 1:
        print(result.report().splitlines()[-2 if on_gpu else -1])
    return result
