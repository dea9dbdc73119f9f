"""``th estimate ALGO --model-path M [flags]``: memory per device, and time with data.

The flags are the algorithm's own (``th train``'s, from its schema). Memory comes
from :func:`training_hub.estimate` with the run's values (micro-batch tokens,
processes, device, LoRA rank, OSFT ratio, gradient checkpointing); with
``--data-path`` a short calibration run on this machine predicts the training time
(:func:`training_hub._time_estimate.estimate_time`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from .._errors import ParameterError

__all__ = ["memory_estimate_of", "run_estimate"]

#: Stand-in for a data_path that was not given (memory only): never read.
_NO_DATA = "<no data_path: memory only>"


def _given(name: str, args: list[str]) -> bool:
    flag = "--" + name
    return any(a.replace("_", "-").split("=", 1)[0] == flag for a in args)


def memory_estimate_of(algorithm: str, params: Any, gpu_memory_gib: float | None) -> Any:
    """:func:`training_hub.estimate` for the run ``params`` of ``algorithm`` describes."""
    from .._estimate import METHODS, estimate

    if algorithm not in METHODS:
        raise ParameterError(
            f"th estimate: memory is estimated for the native engine's {', '.join(METHODS)}, "
            f"not for '{algorithm}'."
        )
    import torch

    device = params.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if gpu_memory_gib is not None:
        gpu_memory = int(gpu_memory_gib * 2**30)
    elif device == "cuda" and torch.cuda.is_available():
        gpu_memory = torch.cuda.get_device_properties(0).total_memory
    else:
        gpu_memory = 80 * 2**30
    extra = {name: getattr(params, name) for name in ("lora_r", "unfreeze_rank_ratio")
             if hasattr(params, name)}
    return estimate(
        algorithm, num_gpus=params.nproc_per_node * params.nnodes, gpu_memory=gpu_memory,
        model_path=params.model_path, batch_size=params.effective_batch_size,
        max_seq_len=params.max_seq_len, max_tokens_per_gpu=params.max_tokens_per_gpu,
        use_liger=params.use_liger, verbose=0, trust_remote_code=params.trust_remote_code,
        device=device, gradient_checkpointing=params.gradient_checkpointing, **extra,
    )


def run_estimate(
    algorithm: str | None,
    backend: str | None,
    config: Path | None,
    extra_args: list[str],
    *,
    demo: bool,
    as_json: bool,
    gpu_memory_gib: float | None,
    calibration_steps: int | None,
) -> None:
    from ._train import resolve_run

    args = list(extra_args)
    with_data = demo or _given("data-path", args)
    if config is not None and not with_data:
        from .._config_file import read_config_file

        with_data = "data_path" in read_config_file(config).params
    if not with_data:
        args += ["--data-path", _NO_DATA]
    if not _given("ckpt-output-dir", args):
        # nothing is written there: the calibration run trains in a temporary folder
        args += ["--ckpt-output-dir", "th-estimate-unused"]
    algorithm, backend, _, params = resolve_run(algorithm, backend, config, args, demo=demo)
    with_data = params.data_path != _NO_DATA
    memory = memory_estimate_of(algorithm, params, gpu_memory_gib)
    time = None
    if with_data:
        from .._time_estimate import estimate_time

        time = estimate_time(algorithm, params, backend=backend,
                             calibration_steps=calibration_steps)
    if as_json:
        typer.echo(json.dumps({
            "algorithm": algorithm, "backend": backend, "memory": memory.to_dict(),
            "time": time.to_dict() if time is not None else None,
        }, indent=2))
        return
    typer.echo(memory.report())
    if time is not None:
        typer.echo(time.describe())
    else:
        typer.echo("time: give --data-path to predict it from a short calibration run")
