"""``NativeSFTBackend``: sft on training-hub's engine (every parameter is trained)."""

from __future__ import annotations

from training_hub.native import NativeBackend

from .algorithm import SFTParams

__all__ = ["NativeSFTBackend"]


class NativeSFTBackend(NativeBackend):
    params_schema = SFTParams
    algorithm_name = "sft"
    backend_name = "native"
