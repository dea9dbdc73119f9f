"""Contrastive losses on embeddings, and how a ``loss_type`` name becomes one.

An embedding loss is a callable ``loss(embeddings, labels) -> scalar tensor``:
``embeddings`` is a list with one ``[batch, dim]`` tensor per input column
(anchor, positive[, negative] for pair losses; the texts for label losses) and
``labels`` the integer labels (label losses) or None. A loss says which data it
trains on with an ``embedding_data`` attribute, ``"pairs"`` (the default) or
``"labels"``. The built-ins compute what sentence-transformers' losses of the
same name compute; any other name is looked up in the ``losses`` component
registry, where a plugin registers such a callable (or a class building one), or a
sentence-transformers loss class (``cls(model)``, sentence-transformers backend only).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from training_hub import ParameterError

from .algorithm import LABEL_LOSSES, EmbeddingSFTParams

__all__ = [
    "ResolvedLoss",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "euclidean_distances",
    "mnrl_loss",
    "resolve_loss",
]


def mnrl_loss(embeddings: list[torch.Tensor], scale: float = 20.0) -> torch.Tensor:
    """Multiple negatives ranking (InfoNCE): each anchor against every positive and
    negative of the batch, cosine similarity times ``scale``, cross-entropy on its own."""
    anchors = F.normalize(embeddings[0], dim=-1)
    candidates = F.normalize(torch.cat(embeddings[1:], dim=0), dim=-1)
    scores = anchors @ candidates.T * scale
    return F.cross_entropy(scores, torch.arange(anchors.shape[0], device=scores.device))


def euclidean_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances, with a zero (and finite gradient) on the diagonal."""
    dot = embeddings.float() @ embeddings.float().T
    norms = torch.diag(dot)
    squared = (norms.unsqueeze(0) - 2.0 * dot + norms.unsqueeze(1)).clamp(min=0)
    zero = squared.eq(0).float()
    return (1.0 - zero) * torch.sqrt(squared + zero * 1e-16)


def batch_all_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 5.0
) -> torch.Tensor:
    """Mean over the triplets (a, p, n) of the batch with a positive hinge
    ``d(a, p) - d(a, n) + margin`` (a, p same label; n another)."""
    distances = euclidean_distances(embeddings)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    same.fill_diagonal_(False)
    anchor, positive = same.nonzero(as_tuple=True)
    hinge = distances[anchor, positive].unsqueeze(1) - distances[anchor] + margin
    valid = labels[anchor].unsqueeze(1) != labels.unsqueeze(0)
    hinge = (hinge * valid.float()).clamp(min=0)
    return hinge.sum() / ((hinge > 1e-16).sum() + 1e-16)


def batch_hard_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 5.0
) -> torch.Tensor:
    """Mean over anchors of ``d(hardest positive) - d(hardest negative) + margin``, >= 0."""
    distances = euclidean_distances(embeddings)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    positive_mask = same.clone()
    positive_mask.fill_diagonal_(False)
    hardest_positive = (distances * positive_mask.float()).max(1, keepdim=True).values
    farthest = distances.max(1, keepdim=True).values
    hardest_negative = (distances + farthest * same.float()).min(1, keepdim=True).values
    return (hardest_positive - hardest_negative + margin).clamp(min=0).mean()


@dataclass(frozen=True)
class ResolvedLoss:
    """The loss a run trains with."""

    name: str
    #: What the loss trains on.
    data: Literal["pairs", "labels"]
    #: The native loss ``fn(embeddings, labels)``; None for a sentence-transformers-only loss.
    fn: Any
    #: A sentence-transformers loss class or instance (``cls(model)``), if that is what it is.
    sentence_transformers_loss: Any = None
    #: True for cached_mnrl: embeddings are computed in chunks with GradCache.
    cached: bool = False


def _is_sentence_transformers_loss(value: Any) -> bool:
    """A sentence-transformers loss: an nn.Module class whose constructor takes ``model``,
    or an instance holding one."""
    if isinstance(value, type) and issubclass(value, torch.nn.Module):
        parameters = list(inspect.signature(value.__init__).parameters)
        return len(parameters) > 1 and parameters[1] == "model"
    return isinstance(value, torch.nn.Module) and hasattr(value, "model")


def _import(spec: str) -> Any:
    module, _, name = spec.partition(":")
    try:
        value: Any = importlib.import_module(module)
        for part in name.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ParameterError(f"loss_fn {spec!r} cannot be imported ({type(exc).__name__}: "
                             f"{exc}); write it as 'package.module:name'.") from None
    return value


def _custom(name: str, value: Any, origin: str) -> ResolvedLoss:
    if _is_sentence_transformers_loss(value):
        return ResolvedLoss(name, getattr(value, "embedding_data", "pairs"), None, value)
    if not callable(value):
        raise ParameterError(f"{origin} is {type(value).__name__}, not a loss: give a callable "
                             "fn(embeddings, labels) -> tensor or a sentence-transformers loss.")
    data = getattr(value, "embedding_data", "pairs")
    if data not in ("pairs", "labels"):
        raise ParameterError(f"{origin}: embedding_data is {data!r}; it must be 'pairs' or "
                             "'labels'.")
    return ResolvedLoss(name, data, value)


def resolve_loss(params: EmbeddingSFTParams) -> ResolvedLoss:
    """The loss of ``params``: ``loss_fn`` if given, else the ``loss_type`` name."""
    if params.loss_fn is not None:
        value = _import(params.loss_fn) if isinstance(params.loss_fn, str) else params.loss_fn
        label = getattr(value, "__name__", type(value).__name__)
        return _custom(f"custom ({label})", value, "loss_fn")
    name = params.loss_type
    scale, margin = params.mnrl_scale, params.triplet_margin
    if name in ("mnrl", "cached_mnrl"):
        return ResolvedLoss(name, "pairs", lambda e, labels: mnrl_loss(e, scale),
                            cached=name == "cached_mnrl")
    if name in LABEL_LOSSES:
        triplet = batch_all_triplet_loss if name == "batch_all_triplet" else \
            batch_hard_triplet_loss
        return ResolvedLoss(name, "labels", lambda e, labels: triplet(e[0], labels, margin))
    from training_hub.registry import LOSSES

    component = LOSSES.get(name)
    if _is_sentence_transformers_loss(component):
        return _custom(name, component, f"loss '{name}' of the losses registry")
    # A class is built with no arguments; a registered function is returned as it is.
    built = LOSSES.build(name)
    return _custom(name, built, f"loss '{name}' of the losses registry")
