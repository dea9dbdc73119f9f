"""AdamW and the learning-rate schedule: linear warmup, then constant, linear or cosine decay."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from ..training_params import TrainingParams

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]


def build_optimizer(
    parameters: Iterable[torch.nn.Parameter], params: TrainingParams, device: torch.device
) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay; the fused kernel (CUDA and CPU: 4x faster on CPU)."""
    trainable = [p for p in parameters if p.requires_grad]
    return torch.optim.AdamW(
        trainable,
        lr=params.learning_rate,
        betas=(params.adam_beta1, params.adam_beta2),
        eps=params.adam_eps,
        weight_decay=params.weight_decay,
        fused=device.type in ("cuda", "cpu") or None,
    )


def lr_factor(step: int, *, schedule: str, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate for the optimizer step ``step`` (0-based)."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, params: TrainingParams, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` following :func:`lr_factor`; stepped once per optimizer step."""
    factor: Callable[[int], float] = lambda step: lr_factor(  # noqa: E731
        step,
        schedule=params.lr_scheduler,
        warmup_steps=params.warmup_steps,
        total_steps=total_steps,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
