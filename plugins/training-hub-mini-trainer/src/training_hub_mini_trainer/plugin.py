"""Entry-point module of training-hub-mini-trainer: adds backend ``mini-trainer`` to osft.

Light by design: the backend is registered as an import string, so neither
torch nor mini-trainer is imported until someone trains with it.
"""

from __future__ import annotations

from training_hub import hookimpl

__all__ = ["REQUIREMENT", "TRAINING_HUB_PLUGIN_API", "register_backends"]

TRAINING_HUB_PLUGIN_API = 1

#: 0.7.2 is the first release whose TrainingArgs has every field the backend sets.
REQUIREMENT = "rhai-innovation-mini-trainer>=0.7.2"


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(
        "osft",
        "mini-trainer",
        "training_hub_mini_trainer.backend:MiniTrainerOSFTBackend",
        requires=[REQUIREMENT],
        requires_cuda=True,
        description="Red Hat AI Innovation's mini-trainer: OSFT with FSDP2 via torchrun; "
        "pre-tokenized data; CUDA GPUs only.",
    )
