"""``DPOAlgorithm`` and ``DPOParams``: the engine's TrainingParams plus the DPO fields.

DPO reuses every TrainingParams field with its meaning (max_seq_len bounds
prompt + completion, effective_batch_size counts preference pairs...); fields
that have no meaning for preference data are refused by the backend's
``check_params`` when set.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from training_hub import Algorithm
from training_hub.training_params import TrainingParams

__all__ = ["DPOAlgorithm", "DPOLossType", "DPOParams"]

DPOLossType = Literal["sigmoid", "hinge", "ipo", "robust", "bco_pair", "sppo_hard", "nca_pair"]


class DPOParams(TrainingParams):
    """Direct preference optimisation on ``{"prompt", "chosen", "rejected"}`` records."""

    beta: float = Field(
        0.1, gt=0, description="Strength of the pull towards the reference model (KL weight)."
    )
    loss_type: DPOLossType = Field("sigmoid", description="Preference loss (TRL's loss_type).")
    label_smoothing: float = Field(
        0.0, ge=0, lt=0.5, description="Assumed probability that a preference label is flipped "
        "(robust/cDPO losses)."
    )


class DPOAlgorithm(Algorithm):
    """DPO: raise the likelihood of chosen over rejected answers relative to a frozen reference."""

    params_schema = DPOParams
    default_backend = "trl"
    description = "Direct preference optimisation on prompt/chosen/rejected pairs."
