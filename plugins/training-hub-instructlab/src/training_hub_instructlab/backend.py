"""``InstructLabTrainingSFTBackend``: sft trained by instructlab-training's ``run_training``.

``check_params`` refuses, in one ParameterError, every parameter the library
cannot honour (see ``mapping.LIMITS``) and stops on a machine without CUDA,
which instructlab-training needs. ``run`` maps the parameters, runs the
library (it launches torchrun itself) and reports the checkpoints it wrote.
torch and instructlab-training are imported only there.

Callbacks: the library runs its own training loop in worker processes and takes
no callbacks, so this backend fires ``on_train_begin`` and ``on_train_end`` (with
the result) in the launching process; a callback implementing any other event is
refused before training (``callback_events``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from training_hub import Backend
from training_hub._errors import ParameterError, TrainingError
from training_hub._params import Params
from training_hub.backend_limits import (
    explicit_params,
    refuse_unhonoured,
    require_cuda,
    run_library,
    unhonoured,
)
from training_hub.training_params import TrainingParams

from .mapping import (
    LIMITS,
    check_tracker_fields,
    library_fields,
    to_instructlab_args,
)
from .plugin import REQUIREMENT

__all__ = ["InstructLabResult", "InstructLabTrainingSFTBackend"]

BACKEND_NAME = "instructlab-training"


@dataclass(frozen=True)
class InstructLabResult:
    """What a finished run left in ``ckpt_output_dir``."""

    ckpt_output_dir: str
    #: Hugging Face checkpoints written by the library (``hf_format/samples_N``), oldest first.
    checkpoints: list[str] = field(default_factory=list)


def _problems(params: TrainingParams) -> list[str]:
    problems = unhonoured(params, LIMITS, BACKEND_NAME)
    explicit = explicit_params(params)
    if params.save_final_checkpoint != params.checkpoint_at_epoch and (
        {"save_final_checkpoint", "checkpoint_at_epoch"} & explicit
    ):
        problems.append(
            f"save_final_checkpoint={params.save_final_checkpoint!r} with checkpoint_at_epoch="
            f"{params.checkpoint_at_epoch!r}: instructlab-training writes its last checkpoint "
            "only as the checkpoint of the last epoch; set both to the same value"
        )
    output = Path(params.ckpt_output_dir)
    has_full_state = (output / "full_state").is_dir() and any((output / "full_state").iterdir())
    if params.resume == "none" and has_full_state:
        problems.append(
            f"resume='none' but {output / 'full_state'} holds a saved state that "
            "instructlab-training always resumes from; set resume='latest' or use an empty "
            "ckpt_output_dir"
        )
    elif params.resume == "none" and not params.overwrite and output.is_dir() and any(
        output.iterdir()
    ):
        problems.append(
            f"ckpt_output_dir {output} already holds files of a previous run; set "
            "overwrite=true, resume='latest', or choose an empty folder"
        )
    return problems


class InstructLabTrainingSFTBackend(Backend):
    """sft on instructlab-training (FSDP or DeepSpeed through torchrun, CUDA only)."""

    requires: ClassVar[tuple[str, ...]] = (REQUIREMENT,)
    requires_cuda: ClassVar[bool] = True
    #: training_hub 0.11.2 fields carried out here: the rendezvous id goes to torchrun.
    honours_peer_fields: ClassVar[frozenset[str]] = frozenset({"rdzv_id"})
    params_schema: ClassVar[type[Params] | None] = TrainingParams
    #: The library's loop runs in its own worker processes, which take no callbacks.
    callback_events: ClassVar[frozenset[str]] = frozenset({"on_train_begin", "on_train_end"})

    def check_params(self, params: Params) -> None:
        if not isinstance(params, TrainingParams):
            raise ParameterError(
                f"Backend '{BACKEND_NAME}' trains sft parameters (TrainingParams); got "
                f"{type(params).__name__}."
            )
        refuse_unhonoured(_problems(params), backend=BACKEND_NAME, algorithm="sft")
        known = library_fields()  # None: not installed (the registry says how to install it)
        if known is not None:  # a tracker field this release lacks would be dropped
            check_tracker_fields(params, known)
        require_cuda(BACKEND_NAME, "sft")

    def run(self, params: Params, callbacks: Sequence[Any]) -> InstructLabResult:
        assert isinstance(params, TrainingParams)
        return run_library(self, params, callbacks, lambda: self._train(params))

    def _train(self, params: TrainingParams) -> InstructLabResult:
        torchrun_args, training_args = to_instructlab_args(params)
        from instructlab.training import run_training

        try:
            run_training(torch_args=torchrun_args, train_args=training_args)
        except Exception as exc:
            raise TrainingError(
                f"instructlab-training failed: {type(exc).__name__}: {exc}. Its logs are in "
                f"{params.ckpt_output_dir}."
            ) from exc
        hf_dir = Path(params.ckpt_output_dir) / "hf_format"
        checkpoints = sorted(
            (str(p) for p in hf_dir.iterdir() if p.is_dir()), key=_samples_of
        ) if hf_dir.is_dir() else []
        return InstructLabResult(params.ckpt_output_dir, checkpoints)


def _samples_of(path: str) -> tuple[int, str]:
    tail = path.rsplit("_", 1)[-1]
    return (int(tail) if tail.isdigit() else -1, path)
