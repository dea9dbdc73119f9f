"""``NativeLoRABackend``: lora on training-hub's engine, with the LoRA model adapter.

Light at import (no torch, no peft): the adapter module is imported in
``make_adapter`` when training starts.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from training_hub._errors import ParameterError
from training_hub.native import NativeBackend

from .algorithm import LoRAParams

__all__ = ["NativeLoRABackend", "qlora_problem"]


def qlora_problem() -> str | None:
    """Why QLoRA (4-bit base) cannot run here, or None when it can."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed (pip install 'training-hub-lora[qlora]')"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to torch (4-bit bitsandbytes kernels need one)"
    return None


class NativeLoRABackend(NativeBackend):
    requires = ("torch>=2.5", "transformers>=4.50", "peft>=0.13")
    params_schema = LoRAParams
    algorithm_name = "lora"
    backend_name = "native"

    def check_params(self, params: Any) -> None:
        if params.merge_adapter and (params.nproc_per_node > 1 or params.nnodes > 1):
            raise ParameterError(
                "merge_adapter=True needs the full weights on one process and is not supported "
                "with nproc_per_node/nnodes > 1: set merge_adapter=False and merge afterwards "
                "with training_hub_lora.adapter.save_merged_model(checkpoint, output_dir)."
            )
        super().check_params(params)
        if not (params.load_in_4bit or params.load_in_8bit):
            return
        name = "load_in_4bit" if params.load_in_4bit else "load_in_8bit"
        flag = f"{name}=True (QLoRA)" if params.load_in_4bit else f"{name}=True"
        problem = qlora_problem()
        if params.device == "cpu":
            problem = "device='cpu' was requested"
        if problem is not None:
            raise ParameterError(
                f"{flag} cannot run here: {problem}. Run on a CUDA GPU with bitsandbytes "
                f"installed, or set {name}=False (plain LoRA on a full-precision base)."
            )
        if params.merge_adapter or params.nproc_per_node > 1 or params.nnodes > 1:
            raise ParameterError(
                f"{flag} trains on one GPU and saves the adapter only: set "
                "merge_adapter=False and nproc_per_node=nnodes=1, then merge afterwards with "
                "training_hub_lora.adapter.save_merged_model(checkpoint, output_dir)."
            )

    def make_adapter(self, params: Any) -> Any:
        from .adapter import LoRAModelAdapter

        return LoRAModelAdapter(params)
