"""``th list`` and ``th list --json`` are served without typer: same bytes, same errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from training_hub.cli import main
from training_hub.cli._errors import run_reporting_errors
from training_hub.cli._list import FAST_ARGS

from .conftest import PLUGIN_HEADER, AddDist

TH = Path(sys.executable).parent / "th"
# The typer app on the same arguments: what `th` ran for every command before the fast path.
# (main() took --debug out of the arguments before handing them to it.)
TYPER = ("import sys\nfrom training_hub.cli._errors import run_reporting_errors\n"
         "args = sys.argv[1:]\ndebug = '--debug' in args\n"
         "if debug:\n    args.remove('--debug')\n"
         "sys.exit(run_reporting_errors(args, debug=debug))\n")


def _run(argv: list[str], site: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(site), **env})


def _install_mixed_plugins(plugin_site: AddDist) -> Path:
    plugin_site("broken-dist", "0.1", entry_points={"brk": "brkplug"},
                modules={"brkplug.py": "raise ImportError('boom')"})
    plugin_site("blocked-dist", "0.2", entry_points={"blk": "blkplug"},
                modules={"blkplug.py": PLUGIN_HEADER})
    source = PLUGIN_HEADER + """
@hookimpl
def register_backends(register):
    register("sft", "needs-lib", "nowhere:Nothing", requires=["surely-not-installed>=1"],
             description="Needs a library that is not there: 'quoted' \\u00e9.")
"""
    return plugin_site("extra-dist", "3.0", entry_points={"sft": "extraplug"},
                       modules={"extraplug.py": source}).parent


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["--debug", "list"]])
def test_fast_path_prints_what_typer_prints(plugin_site: AddDist, args: list[str]) -> None:
    site = _install_mixed_plugins(plugin_site)
    env = {"TRAINING_HUB_BLOCK_PLUGINS": "blocked-dist"}
    fast = _run([str(TH), *args], site, **env)
    typer = _run([sys.executable, "-c", TYPER, *args], site, **env)
    assert fast.returncode == typer.returncode == 0, fast.stderr + typer.stderr
    assert fast.stdout == typer.stdout
    assert fast.stderr == typer.stderr
    assert b"broken-dist 0.1" in fast.stdout and b"needs-lib" in fast.stdout
    assert b"blocked by TRAINING_HUB_BLOCK_PLUGINS" in fast.stdout


def test_th_list_imports_neither_typer_nor_pydantic() -> None:
    code = (
        "import sys\nfrom training_hub.cli import main\n"
        "assert main(['list']) == 0 and main(['list', '--json']) == 0\n"
        "heavy = ('typer', 'click', 'pydantic', 'rich', 'packaging', 'importlib.metadata', "
        "'torch')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr


def test_only_exact_list_arguments_take_the_fast_path() -> None:
    assert set(FAST_ARGS) == {("list",), ("list", "--json")}
    helped = subprocess.run([str(TH), "list", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert helped.returncode == 0 and "Usage: th list" in helped.stdout
    wrong = subprocess.run([str(TH), "list", "--jsn"], capture_output=True, text=True,
                           timeout=60)
    assert wrong.returncode == 2 and "No such option" in wrong.stderr
    assert "Traceback" not in wrong.stderr


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        ("UserError('no such thing: fix it')", 2, "th: error: no such thing: fix it\n"),
        ("RuntimeError('bug')", 1, "th: unexpected error: RuntimeError: bug\nRun again with "
         "--debug for the traceback, and report it if it looks like a bug.\n"),
    ],
)
def test_errors_are_reported_the_same_on_both_paths(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: str, code: int,
    message: str,
) -> None:
    import training_hub._inventory as inventory_module
    from training_hub._errors import UserError

    def failing() -> None:
        raise eval(error, {"UserError": UserError})

    monkeypatch.setattr(inventory_module, "inventory", failing)
    assert main(["list"]) == code
    assert capsys.readouterr() == ("", message)
    assert run_reporting_errors(["list"], debug=False) == code
    assert capsys.readouterr() == ("", message)
    last = message.splitlines()[0].removeprefix("th: unexpected error: ").removeprefix(
        "th: error: ")
    for debug_run in (lambda: main(["--debug", "list"]),
                      lambda: run_reporting_errors(["list"], debug=True)):
        assert debug_run() == code
        err = capsys.readouterr().err
        assert err.startswith("Traceback") and last in err


def test_interrupted_list_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import training_hub._inventory as inventory_module

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(inventory_module, "inventory", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr() == ("", "")
    # typer turns Ctrl-C into a silent exit code 130 before it reaches th's reporting.
    assert run_reporting_errors(["list"], debug=False) == 130
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("args", [["list"], ["list", "--json"]])
def test_closed_pipe_exits_1_quietly_on_both_paths(args: list[str]) -> None:
    results = []
    for argv in ([str(TH), *args], [sys.executable, "-c", TYPER, *args]):
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # `th list | true`: nobody reads
        err = process.stderr.read()
        results.append((process.wait(timeout=60), err))
    assert results[0] == results[1] == (1, b"")
