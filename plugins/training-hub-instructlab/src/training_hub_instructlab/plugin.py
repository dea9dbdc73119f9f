"""Entry-point module of training-hub-instructlab: adds backend ``instructlab-training`` to sft.

Light by design: the backend is registered as an import string, so neither
torch nor instructlab-training is imported until someone trains with it.
"""

from __future__ import annotations

from training_hub import hookimpl

__all__ = ["REQUIREMENT", "TRAINING_HUB_PLUGIN_API", "register_backends"]

TRAINING_HUB_PLUGIN_API = 1

#: 0.15.2 is the first release whose TrainingArgs has every field the backend sets.
REQUIREMENT = "instructlab-training>=0.15.2"


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(
        "sft",
        "instructlab-training",
        "training_hub_instructlab.backend:InstructLabTrainingSFTBackend",
        requires=[REQUIREMENT],
        requires_cuda=True,
        description="InstructLab's training library: FSDP/DeepSpeed via torchrun; "
        "CUDA GPUs only.",
    )
