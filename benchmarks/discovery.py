"""Benchmark 2, scale of discovery: ``th list`` with 300 extra plugin distributions installed
against ``th list`` with none.

The 300 distributions are real (modules plus ``*.dist-info`` with entry points,
written by ``training_hub.testing.dists.write_distribution``) in a temporary folder
put on PYTHONPATH; the reference run gets an empty folder on PYTHONPATH instead, so
both scan the same number of path entries.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import (
    Result,
    Row,
    bench_arguments,
    child_env,
    reproduce_command,
    time_commands,
    write_result,
)

from training_hub.testing.dists import write_distribution

__all__ = ["PLUGIN_COUNT", "main", "write_plugins"]

PLUGIN_COUNT = 300

_PLUGIN = '''\
"""Benchmark plugin {index}: one algorithm and one backend, registered by import string."""
from training_hub import hookimpl

TRAINING_HUB_PLUGIN_API = 1


@hookimpl
def register_algorithms(register):
    register("{algo}", "{package}.algorithm:BenchAlgorithm", default_backend="native",
             description="Benchmark algorithm number {index}.")


@hookimpl
def register_backends(register):
    register("{algo}", "native", "{package}.algorithm:BenchBackend",
             requires=["torch>=2.5"], description="Benchmark backend.")
'''

_ALGORITHM = '''\
from training_hub import Algorithm, Backend


class BenchAlgorithm(Algorithm):
    default_backend = "native"

    def train(self, **kwargs):
        return self.backend.execute_training(kwargs)


class BenchBackend(Backend):
    def execute_training(self, algorithm_params):
        return algorithm_params
'''


def write_plugins(site: Path, count: int = PLUGIN_COUNT) -> None:
    """Write ``count`` plugin distributions (one algorithm + backend each) into ``site``."""
    for index in range(count):
        package = f"bench_plugin_{index:03d}"
        algo = f"benchalgo{index:03d}"
        write_distribution(
            site,
            f"bench-plugin-{index:03d}",
            entry_points={algo: f"{package}.plugin"},
            modules={
                f"{package}/__init__.py": "",
                f"{package}/plugin.py": _PLUGIN.format(index=index, algo=algo, package=package),
                f"{package}/algorithm.py": _ALGORITHM,
            },
        )


def main() -> None:
    args = bench_arguments(__doc__ or "")
    repeats = 5 if args.quick else 12
    th_script = Path(sys.executable).parent / "th"
    th = [str(th_script)] if th_script.is_file() else [sys.executable, "-m", "training_hub.cli"]
    with tempfile.TemporaryDirectory(prefix="th-bench-plugins-") as tmp:
        many, empty = Path(tmp) / "many", Path(tmp) / "empty"
        empty.mkdir()
        write_plugins(many)
        envs = {
            "none": child_env(extra={"PYTHONPATH": str(empty), "COLUMNS": "120"}),
            "many": child_env(extra={"PYTHONPATH": str(many), "COLUMNS": "120"}),
        }
        commands = {"none": [*th, "list"], "many": [*th, "list"]}
        times = time_commands(commands, repeats, envs=envs,
                              expect={"none": "sft", "many": f"benchalgo{PLUGIN_COUNT - 1:03d}"})
    best = {name: min(values) for name, values in times.items()}
    ratio = best["many"] / best["none"]
    row = Row(
        metric=f"`th list` with {PLUGIN_COUNT} extra plugin distributions", value=best["many"],
        unit="s", reference="`th list` with none", reference_value=best["none"], ratio=ratio,
        target="<= 1.5x", passed=ratio <= 1.5,
        note=f"all {PLUGIN_COUNT} algorithms appear in the output (checked)",
    )
    write_result(Result(
        name="discovery", title="2. Scale of discovery",
        command=reproduce_command("discovery", args.quick), rows=[row], quick=args.quick,
        details={"repeats": repeats, "times_s": times, "plugins": PLUGIN_COUNT},
    ))


if __name__ == "__main__":
    main()
