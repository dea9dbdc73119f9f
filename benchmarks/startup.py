"""Benchmark 1, start-up: ``th --help``, ``th list`` and ``import training_hub`` against
``import typer``, a bare interpreter and Red Hat's training-hub 0.11.2 listing its algorithms.

All commands run as fresh subprocesses, interleaved round-robin; each figure is the
minimum over the repeats. The peer is installed by this script into its own venv
under benchmarks/.venvs/ (cached); when it cannot be installed or imported its row
says why and the other rows stand.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import (
    VENVS_DIR,
    Result,
    Row,
    bench_arguments,
    child_env,
    ensure_venv,
    first_party_plugins,
    reproduce_command,
    time_commands,
    with_bytecode,
    write_result,
)

from training_hub._plugin_cache import ENV_PLUGIN_CACHE

__all__ = ["PEER_LIST_CODE", "PEER_REQUIREMENT", "main", "peer_python"]

PEER_REQUIREMENT = "training-hub==0.11.2"
PEER_LIST_CODE = (
    "from training_hub import AlgorithmRegistry; print(AlgorithmRegistry.list_algorithms())"
)
# The fix for the peer's import failure next to a CPU torch: PyPI's torchvision (pulled by
# timm) is a CUDA build that does not load beside the CPU torch ("operator
# torchvision::nms does not exist"); without torchvision the listing imports fine.
PEER_WORKAROUND = "pip uninstall torchvision"
PEER_VENV = "peer-training-hub-0.11.2"


def _th_executable() -> list[str]:
    script = Path(sys.executable).parent / "th"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "training_hub.cli"]


def _peer_import_error(python: Path, code: str = PEER_LIST_CODE) -> str | None:
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          env=child_env(), timeout=600)
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"


def peer_python(notes: list[str]) -> Path | None:
    """The peer venv's python when the peer installs and imports; ``notes`` say what happened.

    The venv is cached under benchmarks/.venvs/; ``peer-state.json`` in it remembers
    whether the fresh install imported and which workaround was applied.
    """
    try:
        python = ensure_venv(PEER_VENV, [PEER_REQUIREMENT])
    except (RuntimeError, subprocess.SubprocessError) as exc:
        notes.append(f"{PEER_REQUIREMENT} could not be installed: {str(exc)[-500:]}")
        return None
    state_file = VENVS_DIR / PEER_VENV / "peer-state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    if "fresh_import_error" not in state:
        state = {"fresh_import_error": _peer_import_error(python), "workaround": None}
        if state["fresh_import_error"] is not None:
            root_cause = _peer_import_error(python, "import torchvision")
            if root_cause:
                state["fresh_import_error"] += f" (root cause: `import torchvision`: {root_cause})"
            subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "-q", "torchvision"],
                           capture_output=True, check=False)
            state["workaround"] = PEER_WORKAROUND
        state_file.write_text(json.dumps(state))
    if state["fresh_import_error"] is not None:
        notes.append(
            f"A fresh `pip install {PEER_REQUIREMENT} -c constraints.txt` fails at import: "
            f"{state['fresh_import_error']}; measured after the workaround `{PEER_WORKAROUND}` "
            "in its venv."
        )
    error = _peer_import_error(python)
    if error is None:
        return python
    notes.append(f"{PEER_REQUIREMENT} does not import: {error}")
    return None


def main() -> None:
    args = bench_arguments(__doc__ or "")
    repeats = 5 if args.quick else 15
    th = _th_executable()
    python = sys.executable
    commands = {
        "bare": [python, "-c", "pass"],
        "typer": [python, "-c", "import typer"],
        "import_training_hub": [python, "-c", "import training_hub"],
        "th_help": [*th, "--help"],
        "th_list": [*th, "list"],
        "th_list_uncached": [*th, "list"],
    }
    with tempfile.TemporaryDirectory(prefix="th-bench-cache-") as cache:
        env = with_bytecode(child_env(extra={"COLUMNS": "120", "XDG_CACHE_HOME": cache}))
        envs = {name: env for name in commands}
        envs["th_list_uncached"] = {**env, ENV_PLUGIN_CACHE: "0"}
        times = time_commands(commands, repeats, envs=envs,
                              expect={"th_list": "sft", "th_list_uncached": "sft",
                                      "th_help": "list"})
    best = {name: min(values) for name, values in times.items()}
    plugins = first_party_plugins()
    missing = [name for name, version in plugins.items() if version is None]
    notes = [
        "First-party plugins installed: "
        + ", ".join(f"{n} {v}" for n, v in plugins.items() if v is not None)
        + (f"; NOT installed: {', '.join(missing)}" if missing else ""),
        "Every command reads .pyc files written by its untimed warm-up run (as an installed "
        "package's are), also when the shell sets PYTHONDONTWRITEBYTECODE; `th list` reads "
        "the plugin cache its warm-up run wrote (in a cache folder of this benchmark's).",
    ]

    rows = []
    for name, label in (("th_help", "th --help"), ("th_list", "th list")):
        ratio = best[name] / best["typer"]
        rows.append(Row(
            metric=f"`{label}` wall time", value=best[name], unit="s",
            reference="`python -c \"import typer\"`", reference_value=best["typer"],
            ratio=ratio, target="<= 1.5x", passed=ratio <= 1.5,
        ))
    uncached = best["th_list_uncached"] / best["typer"]
    rows.append(Row(
        metric=f"`th list` wall time, plugin cache off (`{ENV_PLUGIN_CACHE}=0`)",
        value=best["th_list_uncached"], unit="s",
        reference="`python -c \"import typer\"`", reference_value=best["typer"],
        ratio=uncached, target="reported", passed=None,
        note="imports the first-party plugin modules, as the first `th list` after an "
        "install does",
    ))
    overhead_ms = (best["import_training_hub"] - best["bare"]) * 1000
    rows.append(Row(
        metric="`import training_hub` above bare interpreter start", value=overhead_ms,
        unit="ms", reference="`python -c pass`", reference_value=best["bare"] * 1000,
        ratio=None, target="< 50 ms", passed=overhead_ms < 50,
    ))

    peer = peer_python(notes)
    peer_times: list[float] = []
    if peer is not None:
        peer_repeats = 1 if args.quick else 3
        peer_times = time_commands({"peer": [str(peer), "-c", PEER_LIST_CODE]}, peer_repeats,
                                   env=child_env(), expect={"peer": "sft"})["peer"]
        speedup = min(peer_times) / best["th_list"]
        rows.append(Row(
            metric="`th list` speed-up over the peer listing its algorithms",
            value=speedup, unit="x", reference=f"{PEER_REQUIREMENT}: `{PEER_LIST_CODE}`",
            reference_value=min(peer_times), ratio=speedup, target=">= 20x",
            passed=speedup >= 20, reference_unit="s",
        ))
    else:
        rows.append(Row(
            metric="`th list` speed-up over the peer listing its algorithms", value=None,
            unit="x", reference=f"{PEER_REQUIREMENT}: `{PEER_LIST_CODE}`", target=">= 20x",
            passed=None, note="not measurable: " + notes[-1],
        ))

    write_result(Result(
        name="startup", title="1. Start-up", command=reproduce_command("startup", args.quick),
        rows=rows, notes=notes, quick=args.quick,
        details={"repeats": repeats, "times_s": times, "peer_times_s": peer_times},
    ))


if __name__ == "__main__":
    main()
