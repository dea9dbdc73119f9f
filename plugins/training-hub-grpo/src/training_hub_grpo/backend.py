"""The ``native`` backends of grpo and lora_grpo: the GRPO recipe on training-hub's engine.

Light at import (no torch): the recipe is imported when training starts. With
``nproc_per_node * nnodes > 1`` the backend starts torchrun itself (the engine's
launcher, with the GRPO recipe as the workers' recipe); inside torchrun every
process runs the recipe on its share of the prompts. What the workers need must
reach them: reward functions as import strings or importable functions, callbacks
pickled; a function defined in ``__main__`` or a notebook is refused before launch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from training_hub import Backend
from training_hub._errors import ParameterError
from training_hub.callbacks import EVENTS

from .params import GRPOParams, LoRAGRPOParams, vllm_problems
from .plugin import PEER_BACKENDS

__all__ = ["PEER_BACKENDS", "NativeGRPOBackend", "NativeLoRAGRPOBackend", "adapter_for_worker",
           "check_portable_rewards"]

_BACKEND_ENV = "TRAINING_HUB_GRPO_BACKEND"


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
        if self._launches(params):
            if params.iteration_callback is not None:
                raise ParameterError(
                    "iteration_callback is a Python function of this process and cannot reach "
                    "the torchrun workers of a multi-process run: use callbacks=[...] with a "
                    "TrainingHubCallback defined in an importable module instead."
                )
            check_portable_rewards(params.reward_fn or ())

    def run(self, params: Any, callbacks: Sequence[Any]) -> Any:
        if self.backend_name in PEER_BACKENDS:
            import logging

            logging.getLogger("training_hub.grpo").info(
                "backend '%s' (training_hub 0.11.2's %s) is the native backend here",
                self.backend_name, PEER_BACKENDS[self.backend_name])
            self.backend_name = "native"
        self.check_params(params)
        from training_hub.hub import resolve_inputs

        params = resolve_inputs(params)  # Hub ids and data sets: local paths (Hub cache)
        if self._launches(params):
            return self._launch(params, callbacks)
        from .recipe import train_grpo

        return train_grpo(params, self.make_adapter(params), callbacks,
                          algorithm=self.algorithm_name, backend=self.backend_name)

    @staticmethod
    def _launches(params: Any) -> bool:
        """Several processes asked for, and this process is not one of torchrun's."""
        return bool(params.world_size > 1 and "WORLD_SIZE" not in os.environ)

    def _launch(self, params: Any, callbacks: Sequence[Any]) -> Any:
        """Run on torchrun: every worker runs :func:`.recipe.train_grpo` with this backend's
        adapter, the pickled callbacks and its own plugin bridge; returns rank 0's
        :class:`~.recipe.GRPOResult`."""
        from training_hub._errors import TrainingError, UserError
        from training_hub._plugin_events import PluginBridge
        from training_hub.callbacks import check_portable
        from training_hub.engine.checkpoint import find_latest_checkpoint
        from training_hub.engine.launch import run_torchrun
        from training_hub.engine.signals import INTERRUPTED_EXIT_CODE, TrainingInterrupted

        from .recipe import GRPOResult
        from .scoring import resolve_rewards

        if params.reward_fn is not None:  # an unknown one fails here (None: data decides)
            resolve_rewards(params.reward_fn, params.reward_weights)
        portable = check_portable([c for c in callbacks if not isinstance(c, PluginBridge)])
        backend = f"{type(self).__module__}:{type(self).__qualname__}"
        outcome = run_torchrun(
            params, adapter=f"{__name__}:adapter_for_worker",
            env={_BACKEND_ENV: backend, **_import_roots_env(params.reward_fn or ())},
            callbacks=portable, names=(self.algorithm_name, self.backend_name),
            recipe="training_hub_grpo.recipe:train_grpo",
        )
        code = outcome.exit_code
        if code == 2:
            raise UserError("the distributed grpo run stopped on a user error (its message is "
                            "in the output of the processes above)")
        if code == INTERRUPTED_EXIT_CODE:
            latest = find_latest_checkpoint(params.ckpt_output_dir)
            raise TrainingInterrupted(
                "the distributed grpo run was stopped by a signal after saving a checkpoint; "
                "resume with resume='latest' (--resume latest)",
                str(latest) if latest else None,
            )
        if code != 0 or outcome.result is None:
            raise TrainingError(f"the distributed grpo run failed with exit code {code} "
                                "(see the output of its processes above)")
        result = dict(outcome.result)
        result["eval_history"] = [tuple(entry) for entry in result["eval_history"]]
        return GRPOResult(**result)


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


def adapter_for_worker(params: Any) -> Any:
    """Adapter factory a torchrun worker calls: the launching backend's ``make_adapter``."""
    import importlib

    module_name, _, class_name = os.environ[_BACKEND_ENV].partition(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class().make_adapter(params)


def _import_roots_env(reward_fn: Sequence[Any]) -> dict[str, str]:
    """``PYTHONPATH`` for the workers: the current one, plus the folder each reward function's
    module was imported from here (a module beside the script, or on a path added at run
    time, is importable there too)."""
    import sys

    roots: list[str] = []
    for fn in reward_fn:
        module = sys.modules.get(getattr(fn, "__module__", "") or "") if callable(fn) else None
        file = getattr(module, "__file__", None)
        if module is None or file is None:
            continue
        root = Path(file).resolve().parent
        for _ in range(module.__name__.count(".") + (Path(file).stem == "__init__")):
            root = root.parent
        if str(root) not in roots:
            roots.append(str(root))
    if not roots:
        return {}
    current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join([*current, *(r for r in roots if r not in current)])}


def check_portable_rewards(reward_fn: Sequence[Any]) -> None:
    """One :class:`ParameterError` for a reward function the torchrun workers cannot import.

    Strings (import strings, registry names) travel as they are; a callable travels as
    its ``module:qualname`` import path, which must lead back to the same function in
    a fresh process (not ``__main__``, a notebook cell, a lambda or a nested function).
    """
    from .params import reward_name
    from .scoring import _import as import_reward

    for fn in reward_fn:
        if isinstance(fn, str):
            continue
        path = reward_name(fn, import_path=True)
        module, _, qualname = path.partition(":")
        local = module == "__main__" or "<" in qualname
        if not local:
            try:
                local = import_reward(path) is not fn
            except ParameterError:
                local = True
        if local:
            raise ParameterError(
                f"reward_fn {path} cannot reach the torchrun worker processes of this "
                "multi-process run: a function defined in __main__ (a script or a notebook "
                "cell), a lambda, a nested function or a callable object cannot be imported "
                "there. Move it into a module of its own (a .py file on PYTHONPATH) as a "
                "top-level function and pass it, or its import string 'pkg.module:function'."
            )
