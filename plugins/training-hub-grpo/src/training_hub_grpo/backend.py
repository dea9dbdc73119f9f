"""The ``native`` backends of grpo and lora_grpo: the GRPO recipe on training-hub's engine.

Light at import (no torch): the recipe is imported when training starts. Inside
torchrun every process runs the recipe on its share of the prompts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

from training_hub import Backend
from training_hub._errors import ParameterError
from training_hub.callbacks import EVENTS

from .params import GRPOParams, LoRAGRPOParams, vllm_problems

__all__ = ["NativeGRPOBackend", "NativeLoRAGRPOBackend"]


class NativeGRPOBackend(Backend):
    """GRPO on the native engine: fast batched rollouts, packed policy updates."""

    requires: ClassVar[tuple[str, ...]] = ("torch>=2.5", "transformers>=4.50")
    callback_events: ClassVar[frozenset[str]] = frozenset(EVENTS)
    params_schema: ClassVar[type[GRPOParams]] = GRPOParams
    algorithm_name = "grpo"
    backend_name = "native"

    def make_adapter(self, params: Any) -> Any:
        """The engine ModelAdapter; None trains every weight."""
        return None

    def check_params(self, params: Any) -> None:
        problems = vllm_problems(params, vllm=False, backend="native")
        if problems:  # training_hub 0.11.2's vLLM knobs: nothing here would read them
            raise ParameterError(
                f"The native backend of {self.algorithm_name} cannot honour: "
                + "; ".join(problems) + ". See docs/grpo.md."
            )
        if params.nproc_per_node * params.nnodes > 1 and params.iteration_callback is not None:
            raise ParameterError(
                "iteration_callback is a Python function of this process and cannot reach the "
                "torchrun workers of a multi-process run: use callbacks=[...] with a "
                "TrainingHubCallback defined in an importable module instead."
            )

    def run(self, params: Any, callbacks: Sequence[Any]) -> Any:
        self.check_params(params)
        from training_hub.hub import resolve_inputs

        params = resolve_inputs(params)  # Hub ids and data sets: local paths (Hub cache)
        if params.world_size > 1 and "WORLD_SIZE" not in os.environ:
            raise ParameterError(
                f"nproc_per_node * nnodes = {params.world_size}: the native grpo backend does not "
                "launch torchrun itself yet; start your script with `torchrun --nproc-per-node N` "
                "and keep nproc_per_node=nnodes=1 (prompt_batch_size counts all processes)."
            )
        from .recipe import train_grpo

        return train_grpo(params, self.make_adapter(params), callbacks,
                          algorithm=self.algorithm_name, backend=self.backend_name)


class NativeLoRAGRPOBackend(NativeGRPOBackend):
    """lora_grpo on the native engine, with the lora plugin's model adapter."""

    requires: ClassVar[tuple[str, ...]] = ("torch>=2.5", "transformers>=4.50", "peft>=0.13")
    params_schema: ClassVar[type[GRPOParams]] = LoRAGRPOParams
    algorithm_name = "lora_grpo"

    def check_params(self, params: Any) -> None:
        super().check_params(params)
        from training_hub_lora.backend import NativeLoRABackend

        NativeLoRABackend().check_params(params)  # QLoRA and merge_adapter rules, one place

    def make_adapter(self, params: Any) -> Any:
        from training_hub_lora.adapter import LoRAModelAdapter

        return LoRAModelAdapter(params)
