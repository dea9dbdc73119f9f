"""Start a multi-process run with torchrun (``nproc_per_node > 1`` or ``nnodes > 1``).

:func:`build_torchrun_command` is the command line; :func:`run_torchrun` writes the
parameters to a temporary JSON file (and the callbacks, pickled, beside it), runs
torchrun with :mod:`training_hub.engine.worker` on every process, and returns the
run's exit code (0, 1 training error, 2 user error, 75 stopped by a signal) with
rank 0's result; :func:`launch` returns the exit code alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._params import Params
from .worker import DEFAULT_PARAMS_CLASS, DEFAULT_RECIPE, EXIT_FILE_ENV, RESULT_FILE_ENV

__all__ = ["LaunchOutcome", "build_torchrun_command", "launch", "needs_launcher", "run_torchrun"]


@dataclass(frozen=True)
class LaunchOutcome:
    """Rank 0's exit code, and its result (the ``TrainResult`` fields) when it finished."""

    exit_code: int
    result: dict[str, Any] | None = None


def needs_launcher(params: Params) -> bool:
    """True when the run needs several processes (and so torchrun)."""
    return int(getattr(params, "nproc_per_node", 1)) > 1 or int(getattr(params, "nnodes", 1)) > 1


def build_torchrun_command(
    params: Params,
    params_file: str | Path,
    *,
    params_class: str = DEFAULT_PARAMS_CLASS,
    adapter: str | None = None,
    callbacks_file: str | Path | None = None,
    names: tuple[str, str] | None = None,
    recipe: str = DEFAULT_RECIPE,
    python: str = sys.executable,
) -> list[str]:
    """``python -m training_hub.engine.torchrun ... -m training_hub.engine.worker PARAMS_FILE``
    (torchrun's arguments; see :mod:`training_hub.engine.torchrun`)."""
    p = params
    command = [
        python,
        "-m",
        "training_hub.engine.torchrun",
        f"--nproc_per_node={p.nproc_per_node}",  # type: ignore[attr-defined]
        f"--nnodes={p.nnodes}",  # type: ignore[attr-defined]
    ]
    if p.rdzv_endpoint:  # type: ignore[attr-defined]
        command += [
            "--rdzv_backend=c10d",
            f"--rdzv_endpoint={p.rdzv_endpoint}",  # type: ignore[attr-defined]
            f"--rdzv_id={getattr(p, 'rdzv_id', None) or 'training-hub'}",
        ]
    else:
        command += [
            f"--node_rank={p.node_rank}",  # type: ignore[attr-defined]
            f"--master_addr={p.master_addr}",  # type: ignore[attr-defined]
            f"--master_port={p.master_port}",  # type: ignore[attr-defined]
        ]
    command += ["-m", "training_hub.engine.worker", str(params_file)]
    if params_class != DEFAULT_PARAMS_CLASS:
        command += ["--params-class", params_class]
    if adapter is not None:
        command += ["--adapter", adapter]
    if callbacks_file is not None:
        command += ["--callbacks", str(callbacks_file)]
    if names is not None:
        command += ["--algorithm", names[0], "--backend", names[1]]
    if recipe != DEFAULT_RECIPE:
        command += ["--recipe", recipe]
    return command


def launch(
    params: Params,
    *,
    params_class: str | None = None,
    adapter: str | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Run ``params`` on torchrun and wait; returns rank 0's exit code."""
    return run_torchrun(params, params_class=params_class, adapter=adapter, env=env).exit_code


def run_torchrun(
    params: Params,
    *,
    params_class: str | None = None,
    adapter: str | None = None,
    env: dict[str, str] | None = None,
    callbacks: bytes | None = None,
    names: tuple[str, str] | None = None,
    recipe: str = DEFAULT_RECIPE,
) -> LaunchOutcome:
    """Run ``params`` on torchrun and wait; returns rank 0's exit code and result.

    ``params_class`` (``module:Class``, default: the class of ``params``) and
    ``adapter`` (``module:factory``) tell the workers how to rebuild both;
    ``callbacks`` is the list of callbacks pickled by
    :func:`training_hub.callbacks.check_portable`; ``names`` the algorithm and
    backend names their context reports; ``recipe`` (``module:function``) what each
    worker runs (the engine's :func:`~training_hub.engine.recipe.train` by default).
    """
    from .checkpoint import check_output_dir
    from .run_lock import RunLock

    check_output_dir(params)  # type: ignore[arg-type]  # fail before starting processes
    cls = type(params)
    params_class = params_class or f"{cls.__module__}:{cls.__qualname__}"
    output_dir = Path(params.ckpt_output_dir)  # type: ignore[attr-defined]
    # One node takes the run lock for all; with a rendezvous endpoint node ranks are
    # assigned later, so rank 0's worker takes it.
    lock_here = not params.rdzv_endpoint and int(params.node_rank) == 0  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="training-hub-launch-") as folder, (
        RunLock.acquire(output_dir) if lock_here else contextlib.nullcontext()
    ) as lock:
        params_file = Path(folder) / "params.json"
        params_file.write_text(json.dumps(params.to_dict()), encoding="utf-8")
        callbacks_file = None
        if callbacks is not None:
            callbacks_file = Path(folder) / "callbacks.pkl"
            callbacks_file.write_bytes(callbacks)
        exit_file = Path(folder) / "exit_code"
        result_file = Path(folder) / "result.json"
        child_env = {**os.environ, **(env or {}), EXIT_FILE_ENV: str(exit_file),
                     RESULT_FILE_ENV: str(result_file), **(lock.child_env() if lock else {})}
        command = build_torchrun_command(
            params, params_file, params_class=params_class, adapter=adapter,
            callbacks_file=callbacks_file, names=names, recipe=recipe,
        )
        completed = subprocess.run(command, env=child_env, check=False)
        recorded = exit_file.read_text(encoding="utf-8").strip() if exit_file.exists() else ""
        code = completed.returncode
        if recorded and (int(recorded) != 0 or completed.returncode == 0):
            code = int(recorded)
        result = None
        if code == 0 and result_file.is_file():
            result = json.loads(result_file.read_text(encoding="utf-8"))
        return LaunchOutcome(code, result)
