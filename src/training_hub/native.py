"""``NativeBackend``: the base of every backend that trains on the built-in engine.

This module stays light (no torch at import); the engine is imported when
training starts. A subclass names its parameter schema and, when the algorithm
changes the model (LoRA, OSFT), returns a model adapter from ``make_adapter``.
When more than one process is asked for and we are not already inside
torchrun, training is launched through torchrun.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._algorithm import Backend
from ._peer_params import ENGINE_FIELDS
from .callbacks import EVENTS
from .training_params import TrainingParams

if TYPE_CHECKING:
    from ._params import Params

__all__ = ["NativeBackend", "adapter_for_worker"]

_BACKEND_ENV = "TRAINING_HUB_NATIVE_BACKEND"


class NativeBackend(Backend):
    """Runs an algorithm on training-hub's own engine (torch + transformers)."""

    requires: ClassVar[tuple[str, ...]] = ("torch>=2.5", "transformers>=4.50")
    #: The schema of the algorithm (``execute_training`` validates a plain dict with it).
    params_schema: ClassVar[type[TrainingParams]] = TrainingParams
    callback_events: ClassVar[frozenset[str]] = frozenset(EVENTS)
    #: Every training_hub 0.11.2 field the engine carries out (_peer_params.ENGINE_FIELDS).
    honours_peer_fields: ClassVar[frozenset[str]] = ENGINE_FIELDS
    algorithm_name = "sft"
    backend_name = "native"

    def make_adapter(self, params: Any) -> Any:
        """The engine ModelAdapter for this algorithm; None trains every parameter."""
        return None

    def check_params(self, params: Params) -> None:
        """Refuse training_hub 0.11.2 parameters that cannot apply on this machine (tf32
        or flash_attention without a GPU). Subclasses that override this call it."""
        from ._errors import ParameterError
        from ._peer_params import device_problems

        problems = device_problems(params)
        if problems:
            raise ParameterError("; ".join(problems) + ".")

    def run(self, params: Params, callbacks: Sequence[Any]) -> Any:
        assert isinstance(params, TrainingParams)
        inside_torchrun = "WORLD_SIZE" in os.environ
        if (params.nproc_per_node > 1 or params.nnodes > 1) and not inside_torchrun:
            return self._launch(params, callbacks)
        from .engine import train

        return train(params, self.make_adapter(params), callbacks,
                     algorithm=self.algorithm_name, backend=self.backend_name)

    def dry_run(self, params: Params) -> dict[str, Any]:
        """Dataset statistics and the resolved configuration, without training."""
        from .engine import dry_run

        assert isinstance(params, TrainingParams)
        result: dict[str, Any] = dry_run(params)
        return result

    def _launch(self, params: TrainingParams, callbacks: Sequence[Any]) -> Any:
        """Run on torchrun (every worker rebuilds this backend's adapter and its own plugin
        bridge; the other callbacks reach the workers pickled); returns the same
        :class:`~training_hub.engine.TrainResult` as a run in this process."""
        from ._errors import TrainingError, UserError
        from ._plugin_events import PluginBridge
        from .callbacks import check_portable
        from .engine.checkpoint import find_latest_checkpoint, list_checkpoints
        from .engine.launch import run_torchrun
        from .engine.recipe import TrainResult, result_of_finished_run
        from .engine.signals import INTERRUPTED_EXIT_CODE, TrainingInterrupted

        portable = check_portable([c for c in callbacks if not isinstance(c, PluginBridge)])
        backend = f"{type(self).__module__}:{type(self).__qualname__}"
        before = {str(c.path) for c in list_checkpoints(params.ckpt_output_dir)}
        outcome = run_torchrun(
            params, adapter=f"{__name__}:adapter_for_worker", env={_BACKEND_ENV: backend},
            callbacks=portable, names=(self.algorithm_name, self.backend_name),
        )
        code = outcome.exit_code
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
        if outcome.result is not None:
            return TrainResult(**outcome.result)
        return result_of_finished_run(params.ckpt_output_dir, before)


def adapter_for_worker(params: Any) -> Any:
    """Adapter factory a torchrun worker calls: the launching backend's ``make_adapter``."""
    import importlib

    module_name, _, class_name = os.environ[_BACKEND_ENV].partition(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class().make_adapter(params)
