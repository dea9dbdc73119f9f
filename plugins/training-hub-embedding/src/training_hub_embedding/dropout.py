"""Cheaper dropout masks on CPU, for the native embedding backend's training steps.

On CPU, ``torch.bernoulli_`` (what ``nn.Dropout`` draws) costs several times more than
the rest of a dropout layer, and a tiny encoder's step spends a tenth of its time
there. :func:`keep_scale` draws the same distribution from 64-bit random integers
instead: four 16-bit uniforms from each, so one mask element costs a quarter of a
draw, compared with the threshold straight into a float tensor. The drop
probability is rounded to a multiple of 1/32768 (0.1 becomes 0.100006).

:func:`use_fast_dropout` swaps a model's ``nn.Dropout`` modules for
:class:`FastDropout` (same ``p``, same train/eval behaviour); on other devices it
keeps ``torch.nn.functional.dropout``, whose GPU kernels are already fast.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["FastDropout", "keep_scale", "use_fast_dropout"]

_WORDS = 4  # int16 words per int64


def keep_scale(shape: torch.Size | tuple[int, ...], p: float, dtype: torch.dtype,
               device: torch.device) -> torch.Tensor:
    """A dropout multiplier of ``shape``: 0 with probability ``p``, else ``1 / (1 - p)``."""
    numel = math.prod(shape)
    draws = torch.empty(-(-numel // _WORDS), dtype=torch.int64, device=device).random_()
    # random_ leaves the sign bit clear: shifted left, the top word is uniform on all of
    # [-32768, 32767] and the bottom one on its even numbers, so for every word the
    # chance of falling below 2 * dropped - 32768 is dropped / 32768.
    words = draws.bitwise_left_shift_(1).view(torch.int16)
    dropped = round(p * 32768)
    keep = torch.empty(words.shape, dtype=dtype, device=device)
    torch.ge(words, 2 * dropped - 32768, out=keep)
    return keep[:numel].view(shape).mul_(1.0 / (1.0 - p))


class FastDropout(torch.nn.Dropout):
    """``nn.Dropout`` whose CPU mask comes from :func:`keep_scale`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return input
        if input.device.type != "cpu" or self.p >= 1.0:
            return F.dropout(input, self.p, True, self.inplace)
        return input * keep_scale(input.shape, self.p, input.dtype, input.device)


def use_fast_dropout(model: torch.nn.Module) -> int:
    """Replace every plain ``nn.Dropout`` of ``model`` by a :class:`FastDropout` of the
    same ``p``; returns how many were replaced."""
    replaced = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Dropout:
                setattr(parent, name, FastDropout(child.p, child.inplace))
                replaced += 1
    return replaced
