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

__all__ = ["NativeBackend", "adapter_for_worker"]

_BACKEND_ENV = "TRAINING_HUB_NATIVE_BACKEND"


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
            return self._launch(params)
        from .engine import train

        return train(params, adapter=self.make_adapter(params))

    def dry_run(self, algorithm_params: dict[str, Any]) -> dict[str, Any]:
        """Dataset statistics and the resolved configuration, without training."""
        from .engine import dry_run

        result: dict[str, Any] = dry_run(self.params_schema(**algorithm_params))
        return result

    def _launch(self, params: TrainingParams) -> Any:
        """Run on torchrun (every worker rebuilds this backend's adapter); returns the same
        :class:`~training_hub.engine.TrainResult` as a run in this process."""
        from ._errors import TrainingError, UserError
        from .engine.checkpoint import find_latest_checkpoint, list_checkpoints
        from .engine.launch import launch
        from .engine.recipe import result_of_finished_run
        from .engine.signals import INTERRUPTED_EXIT_CODE, TrainingInterrupted

        backend = f"{type(self).__module__}:{type(self).__qualname__}"
        before = {str(c.path) for c in list_checkpoints(params.ckpt_output_dir)}
        code = launch(params, adapter=f"{__name__}:adapter_for_worker",
                      env={_BACKEND_ENV: backend})
        latest = find_latest_checkpoint(params.ckpt_output_dir)
        if code == 2:
            raise UserError("the distributed run stopped on a user error (see its output above)")
        if code == INTERRUPTED_EXIT_CODE:
            raise TrainingInterrupted(
                "the distributed run was stopped by a signal after saving a checkpoint; "
                "resume with resume='latest' (--resume latest)",
                str(latest) if latest else None,
            )
        if code != 0:
            raise TrainingError(f"the distributed run failed with exit code {code} "
                                "(see the output of its processes above)")
        return result_of_finished_run(params.ckpt_output_dir, before)


def adapter_for_worker(params: Any) -> Any:
    """Adapter factory a torchrun worker calls: the launching backend's ``make_adapter``."""
    import importlib

    module_name, _, class_name = os.environ[_BACKEND_ENV].partition(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class().make_adapter(params)
