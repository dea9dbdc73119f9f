"""``NativeOSFTBackend``: osft on training-hub's engine through an OSFT model adapter."""

from __future__ import annotations

from typing import Any

from training_hub.native import NativeBackend

from .algorithm import OSFTParams

__all__ = ["NativeOSFTBackend"]


class NativeOSFTBackend(NativeBackend):
    params_schema = OSFTParams
    algorithm_name = "osft"
    backend_name = "native"

    def make_adapter(self, params: Any) -> Any:
        from .osft import OSFTAdapter  # torch is imported only when training starts

        return OSFTAdapter(
            unfreeze_rank_ratio=params.unfreeze_rank_ratio,
            target_patterns=list(params.target_patterns),
        )
