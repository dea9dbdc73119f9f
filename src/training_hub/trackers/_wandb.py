"""Weights & Biases: one W&B run per training run, the parameters as its config.

On when any of ``wandb_project``, ``wandb_entity``, ``wandb_run_name`` is set
(wandb must be installed: the ``wandb`` extra). W&B's own settings apply
(``WANDB_MODE=offline``, ``WANDB_API_KEY``...); its files go to ``WANDB_DIR``,
or to ``<ckpt_output_dir>`` (a ``wandb/`` folder) when that is not set.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from . import wandb_requested
from ._base import Tracker

if TYPE_CHECKING:
    from ..callbacks import TrainingHubContext

__all__ = ["WandbTracker"]


class WandbTracker(Tracker):
    run: Any = None

    def start(self, context: TrainingHubContext) -> bool:
        params = context.params
        if not wandb_requested(params):
            return False
        import wandb

        config = {k: v for k, v in params.items() if k != "callbacks"}
        self.run = wandb.init(
            project=params.get("wandb_project"),
            entity=params.get("wandb_entity"),
            name=params.get("wandb_run_name"),
            dir=os.environ.get("WANDB_DIR") or context.output_dir or None,
            config=config,
        )
        return True

    def write_scalars(self, scalars: dict[str, float], step: int) -> None:
        if scalars:
            self.run.log(scalars, step=step)

    def finish(self, context: TrainingHubContext) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
