"""TensorBoard event files, in ``tensorboard_log_dir`` or ``<ckpt_output_dir>/tensorboard``.

On when ``tensorboard=True`` (the default) and the tensorboard package is
installed. A resumed run hides the first attempt's events from its checkpoint's
step on (``purge_step``), as metrics.jsonl drops those lines.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._base import Tracker

if TYPE_CHECKING:
    from ..callbacks import TrainingHubContext

__all__ = ["TensorBoardTracker", "tensorboard_log_dir"]


def tensorboard_log_dir(params: dict[str, Any], output_dir: str) -> Path:
    return Path(params.get("tensorboard_log_dir") or Path(output_dir) / "tensorboard")


class TensorBoardTracker(Tracker):
    writer: Any = None

    def start(self, context: TrainingHubContext) -> bool:
        params = context.params
        if not params.get("tensorboard", True) or not context.output_dir:
            return False
        if importlib.util.find_spec("tensorboard") is None:
            return False  # tensorboard=True means "when installed"; tensorboard_log_dir is checked
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(
            log_dir=str(tensorboard_log_dir(params, context.output_dir)),
            purge_step=context.step + 1 if context.step else None,
        )
        return True

    def write_scalars(self, scalars: dict[str, float], step: int) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)

    def finish(self, context: TrainingHubContext) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
