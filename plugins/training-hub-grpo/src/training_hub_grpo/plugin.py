"""Entry-point module of training-hub-grpo: ``grpo``, ``lora_grpo``, their backends and the
built-in reward functions of the ``rewards`` registry.

Light by design: everything is registered as import strings, so ``th list``
imports neither pydantic, torch nor trl from here.
"""

from __future__ import annotations

from training_hub import hookimpl
from training_hub.rewards import BUILTIN_REWARDS

__all__ = ["PEER_BACKENDS", "TRAINING_HUB_PLUGIN_API", "register_algorithms",
           "register_backends", "register_components"]

TRAINING_HUB_PLUGIN_API = 1

#: training_hub 0.11.2's backend names of grpo/lora_grpo, registered as other names of the
#: native backend (which does the work of both: one GPU, or FSDP2 over several) so that its
#: calls run unchanged; the run reports its backend as ``native``.
PEER_BACKENDS = {
    "art": "OpenPipe ART + Unsloth on one GPU",
    "verl": "verl with FSDP over several GPUs",
}


@hookimpl
def register_algorithms(register):  # type: ignore[no-untyped-def]
    register("grpo", "training_hub_grpo.algorithm:GRPOAlgorithm", default_backend="native",
             description="GRPO reinforcement learning from reward functions (every weight "
             "trains).")
    register("lora_grpo", "training_hub_grpo.algorithm:LoRAGRPOAlgorithm",
             default_backend="native",
             description="GRPO reinforcement learning from reward functions on LoRA adapters.")


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register("grpo", "native", "training_hub_grpo.backend:NativeGRPOBackend",
             requires=["torch>=2.5", "transformers>=4.50"],
             description="training-hub's engine: batched KV-cache rollouts, packed updates.")
    register("lora_grpo", "native", "training_hub_grpo.backend:NativeLoRAGRPOBackend",
             requires=["torch>=2.5", "transformers>=4.50", "peft>=0.13"],
             description="training-hub's engine with peft LoRA layers.")
    # training_hub 0.11.2's backend names, so that its calls run unchanged: the native backend.
    for name, theirs in PEER_BACKENDS.items():
        register("grpo", name, "training_hub_grpo.backend:NativeGRPOBackend",
                 requires=["torch>=2.5", "transformers>=4.50"],
                 description=f"training_hub 0.11.2's name ({theirs}): the native backend.")
        register("lora_grpo", name, "training_hub_grpo.backend:NativeLoRAGRPOBackend",
                 requires=["torch>=2.5", "transformers>=4.50", "peft>=0.13"],
                 description=f"training_hub 0.11.2's name ({theirs}): the native backend.")
    # The trl backends (the `trl` extra): same parameters over TRL's GRPOTrainer.
    trl_requires = ["trl>=1.0", "training-hub-trl>=0.1.0", "transformers>=4.50",
                    "datasets>=3.0", "torch>=2.5"]
    register("grpo", "trl", "training_hub_grpo.trl_backend:TRLGRPOBackend",
             requires=trl_requires,
             description="Hugging Face TRL's GRPOTrainer (vLLM on a GPU when installed).")
    register("lora_grpo", "trl", "training_hub_grpo.trl_backend:TRLLoRAGRPOBackend",
             requires=[*trl_requires, "peft>=0.13"],
             description="Hugging Face TRL's GRPOTrainer with a peft LoraConfig.")


@hookimpl
def register_components(register):  # type: ignore[no-untyped-def]
    for name, import_string in BUILTIN_REWARDS.items():
        register("rewards", name, import_string)
