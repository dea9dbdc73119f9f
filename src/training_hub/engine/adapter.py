"""The plug-in point of the training recipe: how an algorithm changes the model.

SFT trains every parameter with the default :class:`ModelAdapter`. Other
algorithms (LoRA, OSFT, ...) subclass it and reuse the same recipe: they wrap
or refactor the model in :meth:`~ModelAdapter.prepare`, choose what trains,
run a hook after each optimizer step, and decide what a checkpoint holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["ModelAdapter"]


class ModelAdapter:
    """Default adapter: full fine-tuning of every parameter.

    The recipe calls the hooks in this order: :meth:`prepare` once after the
    model is loaded (before the distributed wrap), :meth:`load_checkpoint` when
    resuming, :meth:`trainable_parameters` to build the optimizer, then every step
    :meth:`before_optimizer_step` (gradients complete) and
    :meth:`after_optimizer_step`, and at each checkpoint
    :meth:`export_model` (or :meth:`export_state_dict` when the weights are
    sharded over processes) followed by :meth:`save_extra`.
    """

    #: Short name written into checkpoints' ``training_state/trainer_state.json``.
    name: str = "full"

    def prepare(self, model: Any) -> Any:
        """Return the model to train (e.g. wrapped with LoRA layers)."""
        return model

    def trainable_parameters(self, model: Any) -> Iterable[torch.nn.Parameter]:
        """Parameters the optimizer updates; others are frozen by the recipe."""
        return [p for p in model.parameters() if p.requires_grad]

    def before_optimizer_step(self, model: Any) -> None:
        """Called once per step when the gradients are complete: summed over the step's
        micro-batches and processes (sharded under FSDP2) and unscaled, before gradient
        clipping and the optimizer step (e.g. to project the gradients)."""

    def after_optimizer_step(self, model: Any) -> None:
        """Called after every optimizer step (e.g. to re-orthogonalise factors)."""

    def export_model(self, model: Any) -> Any:
        """Model whose ``save_pretrained`` writes the checkpoint's weights (e.g. merged)."""
        return model

    def export_state_dict(self, model: Any, state_dict: dict[str, Any]) -> dict[str, Any]:
        """Same as :meth:`export_model` for sharded training: edit the gathered full state."""
        return state_dict

    def save_extra(self, model: Any, folder: Path) -> None:
        """Write algorithm-specific files into the checkpoint folder (rank 0 only)."""

    def load_checkpoint(self, model: Any, folder: Path) -> None:
        """Restore the training-time weights from a checkpoint folder before resuming.

        The default reads the checkpoint's safetensors weights, which for full
        fine-tuning are exactly the trained parameters.
        """
        from .checkpoint import load_model_weights

        load_model_weights(model, folder)
