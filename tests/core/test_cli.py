"""The ``th`` command line, through its main() and through real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training_hub.cli import main

from .conftest import PLUGIN_HEADER, AddDist


def test_list_json_schema(plugin_site: AddDist, capsys: pytest.CaptureFixture[str]) -> None:
    plugin_site("broken-dist", "0.1", entry_points={"brk": "brkplug"},
                modules={"brkplug.py": "raise ImportError('boom')"})
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 1
    sft = next(a for a in data["algorithms"] if a["name"] == "sft")
    native = next(b for b in sft["backends"] if b["name"] == "native")
    assert native["default"] and native["status"] == "ok"
    assert native["provided_by"]["distribution"] == "training-hub-sft"
    assert any(b["distribution"] == "broken-dist" and "boom" in b["error"]
               for b in data["broken"])


def test_list_shows_broken_plugins(
    plugin_site: AddDist, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin_site("broken-dist", "0.1", entry_points={"brk": "brkplug"},
                modules={"brkplug.py": "raise ImportError('boom')"})
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "sft" in out and "native (default)" in out
    assert "broken plugin" in out and "broken-dist 0.1" in out


def test_info_shows_parameters(plugin_site: AddDist, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "sft", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [p["name"] for p in data["params"]]
    assert names[:3] == ["model_path", "data_path", "ckpt_output_dir"]
    lr = next(p for p in data["params"] if p["name"] == "learning_rate")
    assert lr["type"] == "float" and lr["default"] == 2e-5 and lr["help"]


def test_info_in_a_pipe_is_plain_text_with_every_help_whole(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "training_hub.cli", "info", "sft"],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "60"},
                          check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert not any(box in out for box in "│┃━─╭┏"), out[:400]
    assert "\x1b[" not in out  # no colour codes in a file or pager
    from training_hub_sft.algorithm import SFTParams

    lines = out.splitlines()
    for name, field in SFTParams.model_fields.items():
        flag = "--" + name.replace("_", "-")
        line = next(line for line in lines if line.split(" ", 1)[0] == flag)
        assert (field.description or "") in line, line
    assert "advanced:" in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "nope"], "Unknown algorithm 'nope'"),
        (["train", "sft", "--learning-rat", "1"], "Did you mean '--learning-rate'"),
        (["train", "sft", "--model-path", "m", "--data-path", "d", "--ckpt-output-dir", "o",
          "--num-epochs", "zero"], "parameter 'num_epochs' expects int, got 'zero'"),
        (["train"], "No algorithm given"),
        (["train", "sft", "--config", "missing.yaml"], "missing.yaml does not exist"),
        (["train", "sft", "--backend", "nope"], "has no backend 'nope'"),
        (["info"], "Missing argument 'algorithm'"),
        (["list", "--jsn"], "No such option: --jsn"),
        (["lsit"], "No such command 'lsit'"),
    ],
)
def test_user_errors_exit_2_with_one_paragraph(
    plugin_site: AddDist, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_config_file_and_flags_merge_in_dry_run(
    plugin_site: AddDist, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("algorithm: zecho\nmodel_path: m\ncount: 2\n")
    plugin_site("echo-dist", entry_points={"zecho": "echoplug"}, modules={
        "echoplug.py": PLUGIN_HEADER + """
from training_hub._params import Params

class EchoParams(Params):
    model_path: str
    count: int = 1

class Echo(Algorithm):
    params_schema = EchoParams

class EchoBackend(Backend):
    def execute_training(self, p): return {"echo": p}

@hookimpl
def register_algorithms(register):
    register("zecho", Echo)

@hookimpl
def register_backends(register):
    register("zecho", "local", EchoBackend)
"""})
    assert main(["train", "--config", str(config), "--count", "5", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"count": 5' in out and '"model_path": "m"' in out
    assert main(["train", "--config", str(config)]) == 0
    assert '"count": 2' in capsys.readouterr().out


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **env},
    )


def test_real_th_subprocess_exit_codes() -> None:
    th = Path(sys.executable).parent / "th"
    done = subprocess.run([str(th), "info", "nope"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("th: error: Unknown algorithm 'nope'")
    assert "Traceback" not in done.stderr
    debug = subprocess.run([str(th), "--debug", "info", "nope"], capture_output=True, text=True,
                           timeout=60)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_import_list_and_th_list_do_not_import_torch() -> None:
    code = (
        "import sys, training_hub\n"
        "assert 'torch' not in sys.modules and 'pydantic' not in sys.modules\n"
        "from training_hub import AlgorithmRegistry as R\n"
        "R.list_algorithms()\n"
        "assert not [m for m in sys.modules if m.startswith('training_hub_')], 'plugin imported'\n"
        "from training_hub.cli import main\n"
        "main(['list'])\n"
        "main(['info', 'sft'])\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = _run(["-c", code])
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


def test_new_plugin_creates_a_distribution_once(tmp_path: Path) -> None:
    assert main(["new-plugin", "training-hub-zoo", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "training-hub-zoo" / "pyproject.toml").is_file()
    assert 'zoo = "training_hub_zoo.plugin"' in (
        tmp_path / "training-hub-zoo" / "pyproject.toml").read_text()
    assert main(["new-plugin", "training-hub-zoo", "--dir", str(tmp_path)]) == 2
    assert main(["new-plugin", "Bad Name!", "--dir", str(tmp_path)]) == 2


def test_plot_writes_a_png_of_the_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    records = [{"step": s, "loss": 5.0 / s, "lr": 1e-3} for s in range(1, 11)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["plot", str(run)]) == 0
    png = (run / "loss_plot.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_plot_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(tmp_path)]) == 2
    assert "metrics.jsonl does not exist" in capsys.readouterr().err.replace("\n", " ")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\nnot json\n')
    assert main(["plot", str(tmp_path)]) == 2
    assert "metrics.jsonl, line 2: not a metrics record" in capsys.readouterr().err


def test_doctor_lists_plugin_code_and_reports_problems(
    plugin_site: AddDist, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "training-hub-sft 0.1.0: sft = training_hub_sft.plugin" in out
    assert "torch 2." in out and "no problems found" in out
    plugin_site("broken-dist", "0.1", entry_points={"brk": "brkplug"},
                modules={"brkplug.py": "raise ImportError('boom')"})
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "broken-dist 0.1: brk = brkplug" in out
    assert "problems found" in out and "boom" in out


def test_typer_runner_list_and_info(plugin_site: AddDist) -> None:
    from typer.testing import CliRunner

    from training_hub.cli._app import app

    runner = CliRunner()
    listing = runner.invoke(app, ["list", "--json"])
    assert listing.exit_code == 0
    assert "sft" in [a["name"] for a in json.loads(listing.stdout)["algorithms"]]
    info = runner.invoke(app, ["info", "sft"])
    assert info.exit_code == 0 and "--learning-rate" in info.stdout
    help_text = runner.invoke(app, ["--help"])
    assert help_text.exit_code == 0 and "new-plugin" in help_text.stdout


_CUDA_ONLY_PLUGIN = PLUGIN_HEADER + """
class Solo(Algorithm):
    description = "needs a GPU backend"

class GpuBackend(Backend):
    def execute_training(self, p): return p

class PlainBackend(Backend):
    def execute_training(self, p): return p

@hookimpl
def register_algorithms(register):
    register("gpuonly", Solo, default_backend="gpu")
    register("mixed", Solo, default_backend="plain")

@hookimpl
def register_backends(register):
    register("gpuonly", "gpu", "gpuplug:GpuBackend", requires_cuda=True)
    register("mixed", "plain", PlainBackend)
    register("mixed", "gpu", GpuBackend, requires_cuda=True)
"""


def test_cuda_only_backends_are_shown_and_doctor_reports_them(
    plugin_site: AddDist, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    plugin_site("gpu-dist", "0.1", entry_points={"gpuonly": "gpuplug", "mixed": "gpuplug"},
                modules={"gpuplug.py": _CUDA_ONLY_PLUGIN})
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    flags = {(a["name"], b["name"]): b["requires_cuda"]
             for a in data["algorithms"] for b in a["backends"]}
    # Declared at registration (the import string is not imported by th list).
    assert flags[("gpuonly", "gpu")] is True
    assert flags[("mixed", "gpu")] is True and flags[("mixed", "plain")] is False
    assert flags[("sft", "native")] is False
    assert main(["list"]) == 0
    assert "ok (CUDA GPUs only)" in capsys.readouterr().out

    code = main(["doctor"])
    out = capsys.readouterr().out
    if torch.cuda.is_available():  # pragma: no cover - this project's CI has no GPU
        assert code == 0 and "CUDA GPUs only" not in out
        return
    assert "mixed/gpu trains on CUDA GPUs only; this machine has none" in out
    assert "no backend of 'gpuonly' can run here: gpu: trains on CUDA GPUs only" in out
    assert "no backend of 'mixed'" not in out
    assert code == 1


def test_unknown_register_keyword_breaks_the_plugin_with_its_name(
    plugin_site: AddDist, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _CUDA_ONLY_PLUGIN.replace("requires_cuda=True)\n    register(\"mixed\", \"plain\"",
                                       "require_cuda=True)\n    register(\"mixed\", \"plain\"")
    plugin_site("typo-dist", "0.1", entry_points={"gpuonly": "typoplug"},
                modules={"typoplug.py": source})
    assert main(["list", "--json"]) == 0
    broken = json.loads(capsys.readouterr().out)["broken"]
    assert len(broken) == 1 and broken[0]["distribution"] == "typo-dist"
    assert "unknown keyword(s) require_cuda" in broken[0]["message"]
    assert "requires, requires_cuda" in broken[0]["message"]


def _complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "_TH_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(cword)}
    done = subprocess.run([sys.executable, "-m", "training_hub.cli"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout.split()


def test_shell_completion_of_commands_algorithms_and_backends() -> None:
    assert "list" in _complete("th li", 1)
    algorithms = _complete("th info ", 2)
    assert {"sft", "osft", "lora"} <= set(algorithms)
    assert _complete("th train os", 2) == ["osft"]
    from training_hub import AlgorithmRegistry

    assert set(_complete("th info sft --backend ", 4)) == set(
        AlgorithmRegistry.list_backends("sft"))
    assert _complete("th train sft -b na", 4) == ["native"]
    script = subprocess.run([sys.executable, "-m", "training_hub.cli", "--show-completion",
                             "bash"], capture_output=True, text=True, check=False)
    assert script.returncode == 0 and "_TH_COMPLETE=complete_bash" in script.stdout
