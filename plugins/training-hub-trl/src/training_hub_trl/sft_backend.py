"""``TRLSFTBackend``: the ``trl`` backend of sft; same parameters as the native backend.

Light at import: trl, datasets and torch are imported when training starts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from training_hub import Backend
from training_hub.training_params import TrainingParams

from .mapping import check_trl_params

__all__ = ["TRLSFTBackend"]


class TRLSFTBackend(Backend):
    """sft on Hugging Face TRL's SFTTrainer, fed by training-hub's data pipeline."""

    requires: ClassVar[tuple[str, ...]] = (
        "trl>=0.20", "transformers>=4.50", "datasets>=3.0", "torch>=2.5",
    )

    def check_params(self, params: Any) -> None:
        check_trl_params(params, algorithm="sft")

    def execute_training(self, algorithm_params: dict[str, Any]) -> Any:
        params = TrainingParams(**algorithm_params)
        check_trl_params(params, algorithm="sft")
        from .sft_training import train_sft

        return train_sft(params)
