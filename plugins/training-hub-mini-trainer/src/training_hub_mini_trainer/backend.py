"""``MiniTrainerOSFTBackend``: osft trained by mini-trainer's ``run_training``.

``check_params`` refuses, in one ParameterError, every parameter mini-trainer
cannot honour (see ``mapping.LIMITS``) and stops on a machine without CUDA,
which mini-trainer needs. ``run`` checks the pre-tokenized data, maps the
parameters, runs the library (it launches torchrun itself) and reports the
checkpoints it wrote. torch and mini-trainer are imported only there.

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
from training_hub.backend_limits import refuse_unhonoured, require_cuda, run_library, unhonoured
from training_hub.training_params import TrainingParams

from .data_check import check_tokenized_file
from .mapping import (
    LIMITS,
    check_tracker_fields,
    library_fields,
    to_mini_trainer_args,
)
from .plugin import REQUIREMENT

__all__ = ["MiniTrainerOSFTBackend", "MiniTrainerResult"]

BACKEND_NAME = "mini-trainer"


@dataclass(frozen=True)
class MiniTrainerResult:
    """What a finished run left in ``ckpt_output_dir``."""

    ckpt_output_dir: str
    samples: int
    #: Hugging Face checkpoints written by mini-trainer (``hf_format/samples_N``), oldest first.
    checkpoints: list[str] = field(default_factory=list)


def _problems(params: TrainingParams) -> list[str]:
    problems = unhonoured(params, LIMITS, BACKEND_NAME)
    for name in ("unfreeze_rank_ratio", "target_patterns"):
        if not hasattr(params, name):
            problems.append(f"{name} is missing: backend '{BACKEND_NAME}' trains osft "
                            "parameters only")
    output = Path(params.ckpt_output_dir)
    if params.resume == "none" and not params.overwrite and output.is_dir() and any(
        output.iterdir()
    ):
        problems.append(
            f"ckpt_output_dir {output} already holds files of a previous run; set "
            "overwrite=true or choose an empty folder"
        )
    if params.resume not in ("none", "latest") and not Path(params.resume).is_dir():
        problems.append(f"resume={params.resume!r} is not a folder")
    return problems


class MiniTrainerOSFTBackend(Backend):
    """osft on mini-trainer (FSDP2 through torchrun, CUDA only, pre-tokenized data)."""

    requires: ClassVar[tuple[str, ...]] = (REQUIREMENT,)
    requires_cuda: ClassVar[bool] = True
    #: training_hub 0.11.2 fields carried out here: the rendezvous id goes to torchrun.
    honours_peer_fields: ClassVar[frozenset[str]] = frozenset({"rdzv_id"})
    #: The library's loop runs in its own worker processes, which take no callbacks.
    callback_events: ClassVar[frozenset[str]] = frozenset({"on_train_begin", "on_train_end"})

    @property
    def params_schema(self) -> type[Params]:  # type: ignore[override]
        from training_hub_osft.algorithm import OSFTParams  # the osft plugin's schema

        return OSFTParams

    def check_params(self, params: Params) -> None:
        if not isinstance(params, TrainingParams):
            raise ParameterError(
                f"Backend '{BACKEND_NAME}' trains osft parameters; got {type(params).__name__}."
            )
        refuse_unhonoured(_problems(params), backend=BACKEND_NAME, algorithm="osft")
        known = library_fields()  # None: not installed (the registry says how to install it)
        if known is not None:  # a tracker field this release lacks would be dropped
            check_tracker_fields(params, known)
        require_cuda(BACKEND_NAME, "osft")

    def run(self, params: Params, callbacks: Sequence[Any]) -> MiniTrainerResult:
        assert isinstance(params, TrainingParams)
        return run_library(self, params, callbacks, lambda: self._train(params))

    def _train(self, params: Any) -> MiniTrainerResult:
        samples = check_tokenized_file(params.data_path, params.max_seq_len)
        torchrun_args, training_args = to_mini_trainer_args(
            params, bf16_supported=require_cuda(BACKEND_NAME, "osft")
        )
        from mini_trainer import run_training

        try:
            run_training(torch_args=torchrun_args, train_args=training_args)
        except Exception as exc:
            raise TrainingError(
                f"mini-trainer failed: {type(exc).__name__}: {exc}. Its log is "
                f"{params.ckpt_output_dir}/training_log_node{params.node_rank}.log."
            ) from exc
        hf_dir = Path(params.ckpt_output_dir) / "hf_format"
        checkpoints = sorted(
            (str(p) for p in hf_dir.iterdir() if p.is_dir()), key=_samples_of
        ) if hf_dir.is_dir() else []
        return MiniTrainerResult(params.ckpt_output_dir, samples, checkpoints)


def _samples_of(path: str) -> tuple[int, str]:
    tail = path.rsplit("_", 1)[-1]
    return (int(tail) if tail.isdigit() else -1, path)
