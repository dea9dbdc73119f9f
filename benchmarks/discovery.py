"""Benchmark 2, scale of discovery: ``th list`` with 300 extra plugin distributions installed
against ``th list`` with none.

The 300 distributions are real (modules plus ``*.dist-info`` with entry points,
written by ``training_hub.testing.dists.write_distribution``) in a temporary folder
put on PYTHONPATH; the reference run gets an empty folder on PYTHONPATH instead, so
both scan the same number of path entries.

``th list`` replays the registrations of unchanged plugins from its cache
(``training_hub._plugin_cache``) instead of importing them; the runs here use a
cache folder of their own, written by the untimed warm-up run. Two reported rows
show what the cache saves: ``th list`` with the 300 plugins and the cache turned
off (what the first ``th list`` after an install costs), and a bare interpreter
importing the 300 entry-point modules (each imports its package first) against
the same interpreter importing only ``training_hub.hookimpl``: no ``th list``
that imports the plugins can take less than ``th list`` with none plus that time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import (
    Result,
    Row,
    bench_arguments,
    child_env,
    reproduce_command,
    time_commands,
    with_bytecode,
    write_result,
)

from training_hub._plugin_cache import ENV_PLUGIN_CACHE, RACY_SECONDS
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
        many, empty, cache = Path(tmp) / "many", Path(tmp) / "empty", Path(tmp) / "cache"
        empty.mkdir()
        write_plugins(many)
        # Files changed within RACY_SECONDS are not cached (their next change might keep
        # the same time stamp): wait, as for plugins installed before the first `th list`.
        time.sleep(RACY_SECONDS + 0.5)

        def env(path: Path, **extra: str) -> dict[str, str]:
            return with_bytecode(child_env(extra={
                "PYTHONPATH": str(path), "COLUMNS": "120", "XDG_CACHE_HOME": str(cache),
                **extra}))

        envs = {"none": env(empty), "many": env(many),
                "many_uncached": env(many, **{ENV_PLUGIN_CACHE: "0"})}
        envs["hookimpl_only"] = envs["imports_only"] = envs["many"]
        hookimpl = "from training_hub import hookimpl\n"
        imports = "".join(f"import bench_plugin_{i:03d}.plugin\n" for i in range(PLUGIN_COUNT))
        commands = {
            "none": [*th, "list"], "many": [*th, "list"], "many_uncached": [*th, "list"],
            "hookimpl_only": [sys.executable, "-c", hookimpl + "print('ok')"],
            "imports_only": [sys.executable, "-c", hookimpl + imports + "print('ok')"],
        }
        last = f"benchalgo{PLUGIN_COUNT - 1:03d}"
        times = time_commands(commands, repeats, envs=envs,
                              expect={"none": "sft", "many": last, "many_uncached": last,
                                      "hookimpl_only": "ok", "imports_only": "ok"})
        cached_files = sorted(p.name for p in (cache / "training-hub" / "plugins").glob("*"))
    best = {name: min(values) for name, values in times.items()}
    ratio = best["many"] / best["none"]
    row = Row(
        metric=f"`th list` with {PLUGIN_COUNT} extra plugin distributions", value=best["many"],
        unit="s", reference="`th list` with none", reference_value=best["none"], ratio=ratio,
        target="<= 1.5x", passed=ratio <= 1.5,
        note=f"all {PLUGIN_COUNT} algorithms appear in the output (checked)",
    )
    uncached_ratio = best["many_uncached"] / best["none"]
    uncached = Row(
        metric=f"`th list` with {PLUGIN_COUNT} extra plugins, plugin cache off "
        f"(`{ENV_PLUGIN_CACHE}=0`: the first `th list` after an install)",
        value=best["many_uncached"], unit="s", reference="`th list` with none",
        reference_value=best["none"], ratio=uncached_ratio, target="reported", passed=None,
        note="imports every plugin and runs its registration hooks",
    )
    floor_ms = (best["imports_only"] - best["hookimpl_only"]) * 1000
    none_ms = best["none"] * 1000
    floor = Row(
        metric=f"importing the {PLUGIN_COUNT} entry-point modules alone (bare interpreter, "
        "no training-hub work)", value=floor_ms, unit="ms", reference="`th list` with none",
        reference_value=none_ms, ratio=floor_ms / none_ms, target="reported", passed=None,
        note=f"lowest possible ratio of a `th list` that imports them: "
        f"{1 + floor_ms / none_ms:.2f}x",
    )
    per_plugin_us = (best["many"] - best["none"]) * 1e6 / PLUGIN_COUNT
    uncached_us = (best["many_uncached"] - best["none"]) * 1e6 / PLUGIN_COUNT
    import_us = floor_ms * 1000 / PLUGIN_COUNT
    notes = [
        "Every command reads .pyc files written by its untimed warm-up run (as an installed "
        "package's are), also when the shell sets PYTHONDONTWRITEBYTECODE; the warm-up run "
        f"also wrote the plugin cache ({len(cached_files)} cache files: one per sys.path).",
        f"Per plugin, `th list` spends {per_plugin_us:.0f} us with the cache (a stat of its "
        f"entry_points.txt and of its two module files, replaying and listing its "
        f"registrations) and {uncached_us:.0f} us without it, of which importing its two "
        f"modules (package and entry point) is {import_us:.0f} us.",
    ]
    write_result(Result(
        name="discovery", title="2. Scale of discovery",
        command=reproduce_command("discovery", args.quick), rows=[row, uncached, floor],
        notes=notes,
        quick=args.quick,
        details={"repeats": repeats, "times_s": times, "plugins": PLUGIN_COUNT},
    ))


if __name__ == "__main__":
    main()
