"""``TRLSFTBackend``: the ``trl`` backend of sft; same parameters as the native backend.

Light at import: trl, datasets and torch are imported when training starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from training_hub import Backend
from training_hub._params import Params
from training_hub.callbacks import EVENTS
from training_hub.training_params import TrainingParams

from .mapping import check_trl_params

__all__ = ["TRLSFTBackend"]


class TRLSFTBackend(Backend):
    """sft on Hugging Face TRL's SFTTrainer, fed by training-hub's data pipeline."""

    requires: ClassVar[tuple[str, ...]] = (
        "trl>=0.20", "transformers>=4.50", "datasets>=3.0", "torch>=2.5",
    )
    params_schema: ClassVar[type[Params] | None] = TrainingParams
    callback_events: ClassVar[frozenset[str]] = frozenset(EVENTS)
    #: training_hub 0.11.2 fields carried out here (evaluation.py, mapping.py).
    honours_peer_fields: ClassVar[frozenset[str]] = frozenset({"per_device_eval_batch_size"})
    algorithm_name = "sft"
    backend_name = "trl"

    def check_params(self, params: Any) -> None:
        check_trl_params(params, algorithm="sft")

    def run(self, params: Params, callbacks: Sequence[Any]) -> Any:
        from .sft_training import train_sft

        assert isinstance(params, TrainingParams)
        return train_sft(params, callbacks, (self.algorithm_name, self.backend_name))
