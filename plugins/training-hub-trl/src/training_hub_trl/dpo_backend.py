"""``TRLDPOBackend``: dpo on TRL's DPOTrainer (the default backend of dpo).

Light at import: trl, datasets and torch are imported when training starts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from training_hub import Backend

from .algorithm import DPOParams
from .mapping import check_trl_params

__all__ = ["TRLDPOBackend"]


class TRLDPOBackend(Backend):
    requires: ClassVar[tuple[str, ...]] = (
        "trl>=0.20", "transformers>=4.50", "datasets>=3.0", "torch>=2.5",
    )

    def check_params(self, params: Any) -> None:
        check_trl_params(params, algorithm="dpo")

    def execute_training(self, algorithm_params: dict[str, Any]) -> Any:
        params = DPOParams(**algorithm_params)
        check_trl_params(params, algorithm="dpo")
        from .dpo_training import train_dpo

        return train_dpo(params)
