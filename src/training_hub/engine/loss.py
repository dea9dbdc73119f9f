"""The training loss: by default summed cross-entropy over the tokens that carry a label.

The LM head runs only on positions whose label is not ``IGNORE_INDEX`` (the
decoder's hidden states are gathered first), which saves most of the head's
cost on chat data. On GPU the head + cross-entropy is chunked with activation
recomputation so that the full ``[tokens, vocab]`` logits never live at once,
or fused by Liger when it is installed. The sum is returned; the recipe
divides by the number of loss tokens of the whole optimizer step.

The loss is the ``loss`` parameter, an entry of ``LOSSES`` (protocol:
``training_hub.components.LossFunction``); ``cross_entropy`` is the built-in one.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .._errors import ParameterError
from ..registry import LOSSES
from .batch import IGNORE_INDEX, PackedBatch

if TYPE_CHECKING:
    from ..training_params import TrainingParams

__all__ = [
    "LMHead",
    "PackedCausalLM",
    "build_loss",
    "cross_entropy",
    "cross_entropy_sum",
    "liger_available",
    "loss_targets",
]


def liger_available() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None


def loss_targets(host_batch: PackedBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions that carry a label, and those labels (computed on the host copy)."""
    labels = host_batch.labels[0]
    positions = (labels != IGNORE_INDEX).nonzero().squeeze(1)
    return positions, labels.index_select(0, positions)


def _logits_ce_sum(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    softcap: float | None,
    scale: float | None,
) -> torch.Tensor:
    logits = F.linear(hidden, weight, bias).float()
    if scale is not None:
        logits = logits * scale
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    return F.cross_entropy(logits, targets, reduction="sum")


def cross_entropy_sum(
    hidden: torch.Tensor,
    head: torch.nn.Module,
    targets: torch.Tensor,
    *,
    chunk_size: int | None = None,
    softcap: float | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """Sum of the cross-entropy of ``head(hidden)`` against ``targets`` (fp32).

    With ``chunk_size``, logits are built ``chunk_size`` rows at a time and
    recomputed in the backward pass, bounding memory to one chunk of logits.
    """
    weight, bias = head.weight, getattr(head, "bias", None)
    if chunk_size is None or hidden.shape[0] <= chunk_size:
        return _logits_ce_sum(hidden, weight, bias, targets, softcap, scale)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk_size):
        rows = slice(start, start + chunk_size)
        total = total + checkpoint(
            _logits_ce_sum,
            hidden[rows],
            weight,
            bias,
            targets[rows],
            softcap,
            scale,
            use_reentrant=False,
        )
    return total


@dataclass(frozen=True)
class LMHead:
    """The model's output layer as a loss sees it (``training_hub.components.LMHead``)."""

    module: torch.nn.Module
    softcap: float | None = None
    scale: float | None = None
    chunk_size: int | None = None  # the engine's memory bound for the built-in loss

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = F.linear(hidden, self.module.weight, getattr(self.module, "bias", None)).float()
        if self.scale is not None:
            logits = logits * self.scale
        if self.softcap is not None:
            logits = self.softcap * torch.tanh(logits / self.softcap)
        return logits


def cross_entropy(hidden: torch.Tensor, targets: torch.Tensor, head: LMHead) -> torch.Tensor:
    """The built-in loss ``cross_entropy``: summed token cross-entropy, chunked on GPU."""
    return cross_entropy_sum(
        hidden,
        head.module,
        targets,
        chunk_size=head.chunk_size,
        softcap=head.softcap,
        scale=head.scale,
    )


def build_loss(params: TrainingParams) -> Any:
    """The loss ``params.loss`` (a LossFunction); Liger fuses only the built-in one."""
    loss = LOSSES.build(params.loss)
    if params.use_liger and loss is not cross_entropy:
        raise ParameterError(
            f"use_liger=True fuses the built-in cross_entropy loss, but loss='{params.loss}'. "
            "Set use_liger=None (auto) or False, or loss='cross_entropy'."
        )
    return loss


class PackedCausalLM(torch.nn.Module):
    """The model the recipe trains: a causal LM whose forward returns the summed loss.

    Wrapping the Hugging Face model in one module keeps the decoder and the LM
    head inside a single forward call, which FSDP2's root hooks need.
    """

    def __init__(
        self,
        causal_lm: Any,
        *,
        chunk_size: int | None = None,
        use_liger: bool = False,
        loss: Any = None,
    ) -> None:
        super().__init__()
        self.causal_lm = causal_lm
        self.chunk_size = chunk_size
        config = causal_lm.config
        self.softcap: float | None = getattr(config, "final_logit_softcapping", None)
        self.scale: float | None = getattr(config, "logit_scale", None)
        self.loss = cross_entropy if loss is None else loss
        self.liger_loss: Any = None
        builtin = self.loss is cross_entropy
        if use_liger and builtin and self.softcap is None and self.scale is None:
            from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

            self.liger_loss = LigerFusedLinearCrossEntropyLoss(reduction="sum")

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        loss_positions: torch.Tensor,
        targets: torch.Tensor,
        **attention_kwargs: Any,
    ) -> torch.Tensor:
        decoder = self.causal_lm.get_decoder()
        hidden = decoder(
            input_ids=input_ids, position_ids=position_ids, use_cache=False, **attention_kwargs
        ).last_hidden_state
        hidden = hidden[0].index_select(0, loss_positions)
        head = self.causal_lm.get_output_embeddings()
        if self.liger_loss is not None:
            return self.liger_loss(head.weight, hidden, targets, getattr(head, "bias", None))
        lm_head = LMHead(head, self.softcap, self.scale, self.chunk_size)
        return self.loss(hidden, targets, lm_head)
