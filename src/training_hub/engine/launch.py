"""Start a multi-process run with torchrun (``nproc_per_node > 1`` or ``nnodes > 1``).

:func:`build_torchrun_command` is the command line; :func:`launch` writes the
parameters to a temporary JSON file, runs torchrun with
:mod:`training_hub.engine.worker` on every process, and returns the run's exit
code (0, 1 training error, 2 user error, 75 stopped by a signal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .._params import Params
from .worker import DEFAULT_PARAMS_CLASS, EXIT_FILE_ENV

__all__ = ["build_torchrun_command", "launch", "needs_launcher"]


def needs_launcher(params: Params) -> bool:
    """True when the run needs several processes (and so torchrun)."""
    return int(getattr(params, "nproc_per_node", 1)) > 1 or int(getattr(params, "nnodes", 1)) > 1


def build_torchrun_command(
    params: Params,
    params_file: str | Path,
    *,
    params_class: str = DEFAULT_PARAMS_CLASS,
    adapter: str | None = None,
    python: str = sys.executable,
) -> list[str]:
    """``python -m torch.distributed.run ... -m training_hub.engine.worker PARAMS_FILE``."""
    p = params
    command = [
        python,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={p.nproc_per_node}",  # type: ignore[attr-defined]
        f"--nnodes={p.nnodes}",  # type: ignore[attr-defined]
    ]
    if p.rdzv_endpoint:  # type: ignore[attr-defined]
        command += [
            "--rdzv_backend=c10d",
            f"--rdzv_endpoint={p.rdzv_endpoint}",  # type: ignore[attr-defined]
            "--rdzv_id=training-hub",
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
    return command


def launch(
    params: Params,
    *,
    params_class: str | None = None,
    adapter: str | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Run ``params`` on torchrun and wait; returns rank 0's exit code.

    ``params_class`` (``module:Class``, default: the class of ``params``) and
    ``adapter`` (``module:factory``) tell the workers how to rebuild both.
    """
    from .checkpoint import check_output_dir

    check_output_dir(params)  # type: ignore[arg-type]  # fail before starting processes
    cls = type(params)
    params_class = params_class or f"{cls.__module__}:{cls.__qualname__}"
    with tempfile.TemporaryDirectory(prefix="training-hub-launch-") as folder:
        params_file = Path(folder) / "params.json"
        params_file.write_text(json.dumps(params.to_dict()), encoding="utf-8")
        exit_file = Path(folder) / "exit_code"
        child_env = {**os.environ, **(env or {}), EXIT_FILE_ENV: str(exit_file)}
        command = build_torchrun_command(
            params, params_file, params_class=params_class, adapter=adapter
        )
        completed = subprocess.run(command, env=child_env, check=False)
        recorded = exit_file.read_text(encoding="utf-8").strip() if exit_file.exists() else ""
        if recorded and (int(recorded) != 0 or completed.returncode == 0):
            return int(recorded)
        return completed.returncode
