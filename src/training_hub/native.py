"""``NativeBackend``: the base of every backend that trains on the built-in engine.

This module stays light (no torch at import); the engine is imported when
training starts. A subclass names its parameter schema and, when the algorithm
changes the model (LoRA, OSFT), returns a model adapter from ``make_adapter``.
When more than one process is asked for and we are not already inside
torchrun, training is launched through torchrun.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from ._algorithm import Backend
from .training_params import TrainingParams

__all__ = ["NativeBackend"]


class NativeBackend(Backend):
    """Runs an algorithm on training-hub's own engine (torch + transformers)."""

    requires: ClassVar[tuple[str, ...]] = ("torch>=2.5", "transformers>=4.50")
    #: The schema the algorithm validated; rebuilt here from the plain dict.
    params_schema: ClassVar[type[TrainingParams]] = TrainingParams
    #: Algorithm and backend names, so torchrun workers can find this backend again.
    algorithm_name: ClassVar[str] = "sft"
    backend_name: ClassVar[str] = "native"

    def make_adapter(self, params: Any) -> Any:
        """The engine ModelAdapter for this algorithm; None trains every parameter."""
        return None

    def execute_training(self, algorithm_params: dict[str, Any]) -> Any:
        params = self.params_schema(**algorithm_params)
        inside_torchrun = "WORLD_SIZE" in os.environ
        if (params.nproc_per_node > 1 or params.nnodes > 1) and not inside_torchrun:
            from .engine.launch import launch

            return launch(params, algorithm=self.algorithm_name, backend=self.backend_name)
        from .engine import train

        return train(params, adapter=self.make_adapter(params))

    def dry_run(self, algorithm_params: dict[str, Any]) -> dict[str, Any]:
        """Dataset statistics and the resolved configuration, without training."""
        from .engine import dry_run

        result: dict[str, Any] = dry_run(self.params_schema(**algorithm_params))
        return result
