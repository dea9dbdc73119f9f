"""The GRPO objective: group advantages, the clipped policy-gradient loss, its aggregation.

Definitions are TRL's (``GRPOTrainer._compute_loss``), written per token so that
packing and gradient accumulation stay exact. For completion token ``t`` of
sequence ``i`` with advantage ``A_i``::

    ratio    = exp(logp - logp_rollout)                       # importance ratio
    loss_it  = -min(ratio * A_i, clip(ratio, 1 - eps, 1 + eps_high) * A_i)
             + beta * (exp(ref - logp) - (ref - logp) - 1)    # KL to the reference (k3)

and the step's loss is ``sum_it w_it * loss_it`` with one weight per token,
computed over the whole optimizer step (all micro-batches, all processes):

* ``grpo``:    ``1 / (L_i * B)``      mean over sequences of per-sequence means
* ``bnpo``:    ``1 / sum_i L_i``      mean over the step's completion tokens
* ``dr_grpo``: ``1 / (B * max_tokens)``  a constant (Dr. GRPO)
* ``dapo``:    ``1 / (N / S)``        N completion tokens of the generation batch, S its steps

where ``L_i`` is the completion's length (0 for masked truncated completions),
``B`` the sequences of the step. With one micro-batch per step these equal
TRL's numbers; with several, TRL approximates (it averages micro-batch means)
where this is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "ADVANTAGE_EPS",
    "group_advantages",
    "policy_loss",
    "sequence_weights",
]

#: Added to the std before dividing (TRL's value).
ADVANTAGE_EPS = 1e-4


def _nanstd(values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sample std (Bessel) ignoring NaN, as TRL's ``nanstd``; NaN with fewer than 2 values."""
    if dim is None:
        values, dim = values.reshape(-1), 0
    mean = torch.nanmean(values, dim=dim, keepdim=True)
    count = (~values.isnan()).sum(dim=dim, keepdim=True)
    variance = torch.nanmean((values - mean) ** 2, dim=dim, keepdim=True)
    variance = variance * count / (count - 1).clamp(min=1)
    variance = torch.where(count > 1, variance, torch.full_like(variance, float("nan")))
    return variance.sqrt().squeeze(dim)


def group_advantages(
    rewards: torch.Tensor,
    group_size: int,
    scale_rewards: str,
    batch_std: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages ``r - mean(group)`` (divided by the group's or the batch's std + 1e-4).

    ``rewards`` holds the weighted sum per completion, groups consecutive; NaN
    marks a completion no reward function scored (its advantage is 0 and it is
    left out of its group's mean). ``batch_std`` replaces the batch std of this
    process for ``scale_rewards='batch'`` (computed over all processes).
    Returns the advantages and, per completion, whether its group's std is 0.
    """
    grouped = rewards.view(-1, group_size)
    mean = torch.nanmean(grouped, dim=1).repeat_interleave(group_size)
    group_std = _nanstd(grouped, dim=1).repeat_interleave(group_size)
    advantages = rewards - mean
    if scale_rewards == "group":
        advantages = advantages / (group_std + ADVANTAGE_EPS)
    elif scale_rewards == "batch":
        std = _nanstd(rewards) if batch_std is None else batch_std
        advantages = advantages / (std + ADVANTAGE_EPS)
    zero_std = torch.isclose(group_std, torch.zeros_like(group_std))
    return torch.nan_to_num(advantages, nan=0.0), zero_std


def sequence_weights(
    lengths: Sequence[int],
    loss_type: str,
    *,
    step_sequences: int,
    step_tokens: int,
    max_tokens: int,
    generation_tokens: int,
    steps_per_generation: int,
) -> list[float]:
    """The per-token weight ``w`` of each sequence (see the module docstring).

    ``lengths`` are the loss-carrying completion lengths of this process's
    sequences; the other counts are totals over the whole step (or generation
    batch), over every process.
    """
    if loss_type == "grpo":
        return [1.0 / (max(1, n) * step_sequences) for n in lengths]
    if loss_type == "bnpo":
        return [1.0 / max(1, step_tokens)] * len(lengths)
    if loss_type == "dr_grpo":
        return [1.0 / (step_sequences * max_tokens)] * len(lengths)
    if loss_type == "dapo":
        return [steps_per_generation / max(1, generation_tokens)] * len(lengths)
    raise ValueError(f"unknown loss_type {loss_type!r}")


def policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor | None,
    advantages: torch.Tensor,
    weights: torch.Tensor,
    *,
    epsilon_low: float,
    epsilon_high: float,
    beta: float = 0.0,
    ref_logps: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``sum_t w_t * loss_t`` over the given tokens (1-D tensors, one entry per completion
    token), and a ``[5]`` tensor of statistics: tokens, low/high clipped, KL and ratio sums.

    ``old_logps=None`` means the rollout policy is the current one (one update per
    generation batch): the ratio is ``exp(logp - logp.detach())``, exactly 1, with
    the gradient of ``logp``.
    """
    old = logps.detach() if old_logps is None else old_logps
    ratio = torch.exp(logps - old)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.min(ratio * advantages, clipped * advantages)
    kl = torch.zeros((), device=logps.device)
    if beta != 0.0:
        assert ref_logps is not None
        delta = ref_logps - logps
        per_token_kl = torch.exp(delta) - delta - 1
        per_token = per_token + beta * per_token_kl
        kl = per_token_kl.detach().sum()
    loss = (per_token * weights).sum()
    with torch.no_grad():
        low = ((ratio < 1 - epsilon_low) & (advantages < 0)).sum()
        high = ((ratio > 1 + epsilon_high) & (advantages > 0)).sum()
        stats = torch.stack([
            torch.tensor(float(logps.numel()), device=logps.device), low.float(), high.float(),
            kl.float(), ratio.detach().sum().float(),
        ])
    return loss, stats
