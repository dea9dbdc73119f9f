"""Rollouts: sample ``group_size`` completions of each prompt with a KV cache, fast.

Generation is where GRPO spends its time, so this loop does the least work it
can:

* prompts are sorted by length and sampled a chunk of whole groups at a time
  (``rollout_batch_size`` completions), so left padding stays small;
* each prompt is prefilled *once*: its KV cache is then repeated for the
  ``group_size`` completions of its group (``batch_repeat_interleave``);
* Llama-family models (Llama, Mistral, Qwen2, Qwen3) are run by the fast decoder of
  :mod:`.decoding` (the model's modules called directly, a preallocated KV cache, fused
  projections, no transformers forward per token); any other model by its forward with
  a ``DynamicCache``; both compute the same logits;
* the LM head runs only on the last position;
* finished sequences (end of sequence) leave the batch: the cache is compacted
  whenever an eighth of the rows are done, so the batch shrinks as rows finish;
* sampling (temperature, top-k, top-p, in Hugging Face's order) is an inverse-CDF
  draw from uniforms that each group takes from its own generator
  (:func:`group_generator`), ``max_tokens`` per completion before decoding, so a
  group's completions do not depend on the rest of the batch, the batch size or
  the order of the prompts: runs are reproducible on any number of processes.

The model's attention switches to SDPA (padding mask, cache) for sampling and
back to the engine's packed attention for the update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .decoding import Decoder, TransformersDecoder, fast_model

__all__ = [
    "Completion", "SamplingSettings", "generation_attention", "group_generator", "sample_groups",
]


@dataclass(frozen=True)
class SamplingSettings:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    greedy: bool = False


@dataclass
class Completion:
    """One sampled completion of prompt ``prompt_index``."""

    prompt_index: int
    ids: list[int]  # the sampled tokens, ending with an end-of-sequence token unless truncated
    truncated: bool  # reached max_tokens without an end-of-sequence token


@contextlib.contextmanager
def generation_attention(model: Any) -> Iterator[None]:
    """Run ``model`` with SDPA attention (padding masks and a KV cache) inside the block."""
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = "sdpa"
    try:
        yield
    finally:
        config._attn_implementation = previous


def _next_tokens(logits: torch.Tensor, settings: SamplingSettings,
                 uniforms: torch.Tensor | None) -> torch.Tensor:
    """One token per row: temperature, then top-k, then top-p, then the token where the
    row's uniform (``uniforms``, one per row in [0, 1)) falls in the cumulative
    probabilities (never a token of probability 0)."""
    if settings.greedy:
        return logits.argmax(dim=-1)
    logits = logits.float() / settings.temperature
    if settings.top_k and settings.top_k < logits.shape[-1]:
        kth = torch.topk(logits, settings.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if settings.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative > settings.top_p
        remove[:, 1:] = remove[:, :-1].clone()  # keep the first token that crosses top_p
        remove[:, 0] = False
        logits = logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    assert uniforms is not None, "sampling needs the groups' uniforms"
    cumulative = logits.softmax(dim=-1).double().cumsum(dim=-1)
    total = cumulative[:, -1:]
    target = torch.minimum(uniforms.unsqueeze(1) * total,
                           torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cumulative, target, right=True).squeeze(1)


@torch.no_grad()
def _sample_chunk(
    decoder: Decoder,
    prompts: Sequence[Sequence[int]],
    group_size: int,
    settings: SamplingSettings,
    eos_ids: torch.Tensor,
    pad_id: int,
    generators: Sequence[torch.Generator] | None,
) -> list[tuple[list[int], bool]]:
    device = eos_ids.device
    longest = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long)
    for row, prompt in enumerate(prompts):  # left padding: every prompt ends at the same column
        input_ids[row, longest - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
        mask[row, longest - len(prompt):] = 1
    logits = decoder.prefill(input_ids.to(device), mask.to(device))
    decoder.repeat(group_size)  # one prefill per prompt, shared by its group
    logits = logits.repeat_interleave(group_size, dim=0)

    total = len(prompts) * group_size
    rows = torch.arange(total, device=device)  # which completion each batch row is
    uniforms = None  # [max_tokens, completion]: each group's draws, from its own generator
    if not settings.greedy:
        assert generators is not None and len(generators) == len(prompts)
        uniforms = torch.cat([torch.rand((settings.max_tokens, group_size), generator=g,
                                         dtype=torch.float64) for g in generators],
                             dim=1).to(device)
    tokens: list[list[int]] = [[] for _ in range(total)]
    finished = [False] * total
    active = list(range(total))  # the completion of each batch row, as Python ints
    done_in_batch = 0  # finished rows still in the batch
    for step in range(settings.max_tokens):
        chosen = _next_tokens(logits, settings,
                              None if uniforms is None else uniforms[step, rows])
        ended = torch.isin(chosen, eos_ids).tolist()
        for row, token, end in zip(active, chosen.tolist(), ended, strict=True):
            if finished[row]:
                continue  # finished earlier, not compacted yet: its token is not kept
            tokens[row].append(token)
            if end:
                finished[row] = True
                done_in_batch += 1
        if step == settings.max_tokens - 1 or done_in_batch == len(active):
            break
        if done_in_batch and done_in_batch * 8 >= len(active):  # compact: drop finished rows
            kept = [i for i, r in enumerate(active) if not finished[r]]
            keep = torch.tensor(kept, dtype=torch.long, device=device)
            decoder.keep(keep)
            rows, chosen = rows[keep], chosen[keep]
            active = [active[i] for i in kept]
            done_in_batch = 0
        logits = decoder.step(chosen)
    return [(ids, not done) for ids, done in zip(tokens, finished, strict=True)]


def sample_groups(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    group_size: int,
    settings: SamplingSettings,
    eos_token_ids: Sequence[int],
    pad_token_id: int,
    generators: Sequence[torch.Generator] | None,
    batch_size: int,
    fast: bool = True,
) -> list[Completion]:
    """``group_size`` completions of every prompt, grouped by prompt in the input order.

    ``generators`` has one generator per prompt (:func:`group_generator`; None when
    ``settings.greedy``). ``batch_size`` completions (whole groups) are sampled
    together; prompts are processed longest first, and the results are put back in
    order. The model's modules are run by :func:`.decoding.fast_model` when it knows
    the model (and ``fast``), else by the model's forward (the same logits).
    """
    device = next(model.parameters()).device
    eos = torch.tensor(sorted(set(eos_token_ids)), dtype=torch.long, device=device)
    per_chunk = max(1, batch_size // group_size)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    results: dict[int, list[Completion]] = {}
    was_training = model.training
    model.eval()
    try:
        with generation_attention(model):
            prepared = fast_model(model) if fast else None
            for start in range(0, len(order), per_chunk):
                chunk = order[start:start + per_chunk]
                capacity = max(len(prompts[i]) for i in chunk) + settings.max_tokens
                decoder: Decoder | None = None if prepared is None else \
                    prepared.decoder(capacity)
                if decoder is None:
                    decoder = TransformersDecoder(model)
                sampled = _sample_chunk(
                    decoder, [prompts[i] for i in chunk], group_size, settings, eos,
                    pad_token_id, None if generators is None else [generators[i] for i in chunk])
                for offset, index in enumerate(chunk):
                    group = sampled[offset * group_size:(offset + 1) * group_size]
                    results[index] = [Completion(index, ids, cut) for ids, cut in group]
    finally:
        model.train(was_training)
    return [completion for index in range(len(prompts)) for completion in results[index]]


def group_generator(seed: int, batch: int, prompt_id: int) -> torch.Generator:
    """The random source of one group: a CPU generator seeded from ``seed``, the generation
    batch (counted over the whole run) and the prompt's index in the training set alone.

    Nothing else (the process, how prompts are sharded, batched or ordered, what was
    sampled before) changes a group's draws, so a run sampled on any number of processes
    or resumed from a checkpoint samples the same completions.
    """
    import hashlib

    key = hashlib.blake2b(f"grpo-sampling/{seed}/{batch}/{prompt_id}".encode(), digest_size=8)
    generator = torch.Generator()
    generator.manual_seed(int.from_bytes(key.digest(), "little") & (2**63 - 1))
    return generator
