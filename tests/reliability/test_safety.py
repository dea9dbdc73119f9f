"""Safety: no pickle loading of untrusted files, no YAML object construction, no remote code.

The source checks parse every Python file of ``src/`` and ``plugins/`` (they
read the code the way Python does, so comments and strings do not count). The
remote-code check is behavioural: a model folder whose config asks for its own
Python module must not run it unless ``trust_remote_code`` is set.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from training_hub._errors import ConfigError
from training_hub.training_params import TrainingParams

from ._reliability_helpers import ReliabilityAssets, run_params, subprocess_env

REPO = Path(__file__).resolve().parents[2]
SCANNED = [REPO / "src", REPO / "plugins"]


def _python_files() -> Iterator[Path]:
    """The shipped code: tests (which may ask for remote code on purpose) are left out."""
    for root in SCANNED:
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(REPO).parts
            if not any(p.startswith(".") or p in {"build", "dist", "tests"} for p in parts):
                yield path


def _calls(path: Path) -> Iterator[tuple[ast.Call, str]]:
    """Every call in ``path`` with the dotted name of what is called (``torch.load``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _where(path: Path, call: ast.Call) -> str:
    return f"{path.relative_to(REPO)}:{call.lineno}: {ast.unparse(call)[:120]}"


def test_the_scan_sees_the_code() -> None:
    files = list(_python_files())
    assert any(p.name == "checkpoint.py" for p in files)
    loads = [c for p in files for c, name in _calls(p) if name == "torch.load"]
    assert len(loads) >= 3  # the checkpoint reader's; the check below is not vacuous


def test_every_torch_load_passes_weights_only_true() -> None:
    unsafe = []
    for path in _python_files():
        for call, name in _calls(path):
            if name == "torch.load":
                value = _keyword(call, "weights_only")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    unsafe.append(_where(path, call))
    assert not unsafe, "torch.load without weights_only=True:\n" + "\n".join(unsafe)


def test_no_torch_load_imported_under_another_name() -> None:
    aliased = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "torch":
                aliased += [f"{path.relative_to(REPO)}:{node.lineno}"
                            for alias in node.names if alias.name == "load"]
    assert not aliased, aliased


def test_yaml_is_only_read_with_safe_load() -> None:
    unsafe = []
    for path in _python_files():
        for call, name in _calls(path):
            if name.startswith("yaml.") and name not in {"yaml.safe_load", "yaml.safe_dump",
                                                          "yaml.safe_load_all", "yaml.dump"}:
                unsafe.append(_where(path, call))
            if name.endswith("pickle.load") or name.endswith("pickle.loads"):
                # The one pickle: callbacks the launcher itself wrote into its private
                # temporary folder for its own torchrun workers (engine/launch.py).
                if _where(path, call).startswith("src/training_hub/engine/worker.py:") and \
                        "callbacks_file" in _where(path, call):
                    continue
                unsafe.append(_where(path, call))
    assert not unsafe, "\n".join(unsafe)


def test_trust_remote_code_is_off_by_default_and_never_forced_on() -> None:
    assert TrainingParams.model_fields["trust_remote_code"].default is False
    forced = []
    for path in _python_files():
        for call, _ in _calls(path):
            value = _keyword(call, "trust_remote_code")
            if isinstance(value, ast.Constant) and value.value is True:
                forced.append(_where(path, call))
    assert not forced, forced


_CUSTOM_CODE = """
import os
from pathlib import Path

from transformers import LlamaForCausalLM

Path(os.environ["REMOTE_CODE_MARKER"]).write_text("the model folder's code ran")


class CustomLM(LlamaForCausalLM):
    pass
"""


@pytest.fixture
def model_with_code(assets: ReliabilityAssets, tmp_path: Path) -> Path:
    """A copy of the tiny model whose config maps AutoModelForCausalLM to its own module."""
    import shutil

    model = tmp_path / "model-with-code"
    shutil.copytree(assets.model_path, model)
    (model / "custom_model.py").write_text(_CUSTOM_CODE)
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "custom_model.CustomLM"}
    (model / "config.json").write_text(json.dumps(config))
    return model


_LOAD_CHILD = """
import sys
from training_hub.engine.model import load_model
from training_hub.training_params import TrainingParams

params = TrainingParams(model_path=sys.argv[1], data_path="unused.jsonl",
                        ckpt_output_dir="unused", trust_remote_code=sys.argv[2] == "on")
print(type(load_model(params)).__name__)
"""


def _load_in_child(model: Path, tmp_path: Path, trust: bool) -> tuple[str, bool]:
    marker = tmp_path / f"marker-{trust}"
    env = subprocess_env()
    env.update(REMOTE_CODE_MARKER=str(marker), HF_HOME=str(tmp_path / "hf"),
               HF_MODULES_CACHE=str(tmp_path / "hf-modules"))
    child = subprocess.run(
        [sys.executable, "-c", _LOAD_CHILD, str(model), "on" if trust else "off"],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=tmp_path,
    )
    assert child.returncode == 0, child.stderr
    return child.stdout.strip(), marker.exists()


def test_model_code_runs_only_with_trust_remote_code(
    model_with_code: Path, tmp_path: Path
) -> None:
    loaded, ran = _load_in_child(model_with_code, tmp_path, trust=False)
    assert (loaded, ran) == ("LlamaForCausalLM", False)  # transformers' own class, no code run
    loaded, ran = _load_in_child(model_with_code, tmp_path, trust=True)
    assert (loaded, ran) == ("CustomLM", True)  # passed through when asked


def test_unknown_architecture_with_code_is_refused_without_trust(
    model_with_code: Path, tmp_path: Path, assets: ReliabilityAssets
) -> None:
    from training_hub.engine.model import load_model

    config_file = model_with_code / "config.json"
    config = json.loads(config_file.read_text())
    config["model_type"] = "reliability-test-custom"
    config["auto_map"]["AutoConfig"] = "custom_model.CustomConfig"
    config_file.write_text(json.dumps(config))
    params = run_params(assets, tmp_path / "out", model_path=str(model_with_code))
    assert params.trust_remote_code is False
    with pytest.raises(ConfigError, match=f"model_path '{model_with_code}'") as refused:
        load_model(params)
    assert "custom code" in str(refused.value)
    assert "trust_remote_code=True" in str(refused.value)
