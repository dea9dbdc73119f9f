"""Shared helpers of the benchmark scripts: timing, environment facts, venvs and result files.

Every benchmark script measures its figures and its reference in the same run
and writes one JSON file to ``benchmarks/results/<name>.json`` with
:func:`write_result`; ``report.py`` turns those files into docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_DIR",
    "RESULTS_DIR",
    "RESULT_PREFIX",
    "ROOT",
    "VENVS_DIR",
    "Row",
    "algorithm_problem",
    "child_env",
    "cpu_model",
    "emit_worker_result",
    "ensure_venv",
    "environment",
    "first_party_plugins",
    "peak_rss_mb",
    "progress",
    "reproduce_command",
    "run_worker",
    "time_commands",
    "with_bytecode",
    "write_result",
]

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
VENVS_DIR = BENCH_DIR / ".venvs"
CONSTRAINTS = ROOT / "constraints.txt"
#: A worker prints its result as one line starting with this marker.
RESULT_PREFIX = "BENCH_RESULT "

_PLUGIN_ENV = ("TRAINING_HUB_PLUGINS", "TRAINING_HUB_BLOCK_PLUGINS",
               "TRAINING_HUB_DISABLE_PLUGIN_AUTOLOAD")


@dataclass
class Row:
    """One figure of a benchmark table: the measured value against its reference."""

    metric: str
    value: float | None
    unit: str
    reference: str = ""
    reference_value: float | None = None
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""
    #: Unit of ``reference_value`` when it differs from ``unit``.
    reference_unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_START = time.perf_counter()


def progress(message: str) -> None:
    """One line on stderr with the seconds since this script started."""
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Device, versions and date of this run (versions read without importing)."""
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "trl": _version("trl"),
        "training_hub": _version("training-hub-core"),
        "load_average_1_5_15m": [round(x, 1) for x in os.getloadavg()],
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def first_party_plugins() -> dict[str, str | None]:
    """Each distribution under plugins/ and its installed version (None: not installed)."""
    found: dict[str, str | None] = {}
    for pyproject in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        name = pyproject.parent.name
        for line in pyproject.read_text().splitlines():
            if line.strip().startswith("name") and "=" in line:
                name = line.split("=", 1)[1].strip().strip('"')
                break
        found[name] = _version(name)
    return found


def algorithm_problem(name: str) -> str | None:
    """Why algorithm ``name`` cannot be measured (its plugin is not installed or fails to
    list), else None: the rows of that algorithm then say so and the others stand."""
    try:
        from training_hub import AlgorithmRegistry

        if name not in AlgorithmRegistry.list_algorithms():
            return f"the {name} algorithm is not installed (plugins/training-hub-{name})"
    except Exception as exc:  # any failure of the plugin makes the rows unmeasurable
        return f"listing algorithms failed: {exc}"
    return None


def child_env(threads: int | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a measured subprocess: no plugin filters, fixed thread count."""
    env = {k: v for k, v in os.environ.items() if k not in _PLUGIN_ENV}
    env.pop("PYTHONPATH", None)
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "false"
    env.update(extra or {})
    return env


def with_bytecode(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without ``PYTHONDONTWRITEBYTECODE``, so the untimed warm-up run of
    :func:`time_commands` writes the .pyc files the timed runs read, as they are for
    an installed package (pip compiles at install time). With the variable set in the
    caller's shell, every timed run compiled training-hub's modules and the plugins'
    from source while the references (typer, the standard library) came precompiled.
    """
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def time_commands(
    commands: Mapping[str, Sequence[str]],
    repeats: int,
    env: Mapping[str, str] | None = None,
    envs: Mapping[str, Mapping[str, str]] | None = None,
    expect: Mapping[str, str] | None = None,
) -> dict[str, list[float]]:
    """Wall seconds of each command, ``repeats`` times, interleaved (round-robin).

    One untimed warm-up run of each command comes first (writes .pyc files, warms
    the page cache). A command that fails, or whose output lacks ``expect[name]``,
    raises RuntimeError with its output.
    """
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_index in range(repeats + 1):
        for name, argv in commands.items():
            run_env = dict((envs or {}).get(name, env or os.environ))
            start = time.perf_counter()
            done = subprocess.run(list(argv), env=run_env, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            wanted = (expect or {}).get(name)
            if done.returncode != 0 or (wanted is not None and wanted not in done.stdout):
                raise RuntimeError(
                    f"{name}: {' '.join(argv)} exited {done.returncode}; expected "
                    f"{wanted!r} in its output.\nstdout: {done.stdout[-2000:]}\n"
                    f"stderr: {done.stderr[-2000:]}"
                )
            if round_index > 0:
                times[name].append(elapsed)
    return times


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit_worker_result(payload: Mapping[str, Any]) -> None:
    """Print a worker's result for :func:`run_worker`, with its peak RSS added."""
    data = {**payload, "peak_rss_mb": peak_rss_mb(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 1)}
    print(RESULT_PREFIX + json.dumps(data), flush=True)


def run_worker(
    argv: Sequence[str], env: Mapping[str, str], timeout: float, log: Path | None = None
) -> dict[str, Any]:
    """Run a worker subprocess and return the JSON it printed; raise with its output."""
    done = subprocess.run(
        list(argv), env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX):])
            return result
    raise RuntimeError(
        f"worker {' '.join(argv)} exited {done.returncode} without a result.\n"
        f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
    )


def ensure_venv(name: str, requirements: Sequence[str], timeout: float = 1800) -> Path:
    """A venv under benchmarks/.venvs/<name> with ``requirements`` installed (cached).

    torch is pinned by constraints.txt to the CPU build. Returns the venv's python;
    raises RuntimeError with pip's output when the install fails.
    """
    venv = VENVS_DIR / name
    python = venv / "bin" / "python"
    stamp = venv / ".bench-installed"
    wanted = "\n".join(requirements)
    if stamp.is_file() and stamp.read_text() == wanted and python.is_file():
        return python
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS), *requirements],
        capture_output=True, text=True, timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(requirements)} failed:\n{done.stderr[-3000:]}")
    stamp.write_text(wanted)
    return python


@dataclass
class Result:
    """What one benchmark script writes (see :func:`write_result`)."""

    name: str
    title: str
    command: str
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    quick: bool = False


def bench_arguments(description: str) -> Any:
    """The command line every benchmark script accepts: ``--quick``."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps (~minutes)")
    return parser.parse_args()


def reproduce_command(name: str, quick: bool) -> str:
    """The command that reproduces the figures of benchmark ``name``."""
    return f"python benchmarks/run_all.py --only {name}" + (" --quick" if quick else "")


def write_result(result: Result) -> Path:
    """Write ``benchmarks/results/<name>.json`` (with the environment) and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "name": result.name,
        "title": result.title,
        "command": result.command,
        "quick": result.quick,
        "environment": environment(),
        "rows": [row.to_dict() for row in result.rows],
        "notes": result.notes,
        "details": result.details,
    }
    path = RESULTS_DIR / f"{result.name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(path)
    return path
