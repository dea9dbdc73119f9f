"""The core as a published distribution: its name, plugins that depend on it, and PyPI's
unrelated ``training-hub`` installed next to it.

A local PEP 503 index holds real wheels built from this checkout (the core
``training-hub-core``, ``training-hub-sft`` and a plugin made by ``th new-plugin``),
a stand-in for PyPI's ``training-hub`` 0.11.2 (another project's package that is also
named ``training_hub``), and wheels of the core's dependencies repacked from this
environment (the test is offline: see ``training_hub.testing.wheelhouse``). pip
installs from that index alone, with dependency resolution on, into fresh venvs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

from training_hub import _conflict
from training_hub.scaffold import create_plugin
from training_hub.testing.dists import build_wheel, write_distribution
from training_hub.testing.wheelhouse import (
    dependency_closure,
    isolated_pip_env,
    repack_installed,
    write_simple_index,
)

ROOT = Path(__file__).resolve().parents[2]
#: The stand-in for PyPI's training-hub: its package overwrites ours file by file.
OTHER_MODULES = {
    "training_hub/__init__.py": '"""Stand-in for PyPI\'s training-hub."""\n'
                                "from ._version import __version__\nOTHER_PROJECT = True\n",
    "training_hub/_version.py": '__version__ = "0.11.2"\n',
}


def _run(*args: str, env: dict[str, str] | None = None, check: bool = True,
         timeout: int = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``file://`` simple index with the wheels described in the module docstring."""
    pytest.importorskip("hatchling", reason="building wheels needs hatchling (the dev extra)")
    tmp = tmp_path_factory.mktemp("index")
    plugin = create_plugin("training-hub-lineup", tmp / "src")
    built = tmp / "built"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(built), str(ROOT), str(ROOT / "plugins" / "training-hub-sft"),
         str(plugin), env=isolated_pip_env())
    other = build_wheel(built, "training-hub", "0.11.2", entry_points={},
                        modules=OTHER_MODULES)
    core_requires = [r for r in metadata.requires("training-hub-core") or []
                     if "extra ==" not in r]
    deps = [repack_installed(name, tmp / "deps") for name in dependency_closure(core_requires)]
    return write_simple_index([*built.glob("*.whl"), other, *deps], tmp / "simple")


def _fresh_venv(where: Path) -> Path:
    """A new venv without pip (this interpreter's pip installs into it with --python)."""
    _run(sys.executable, "-m", "venv", "--without-pip", str(where))
    return where / "bin" / "python"


def _pip(python: Path, index: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, "-m", "pip", "--python", str(python), *args,
                "--index-url", index.as_uri(), env=isolated_pip_env())


def _installed(python: Path) -> dict[str, str]:
    code = ("import json, importlib.metadata as m; print(json.dumps("
            "{d.metadata['Name']: d.version for d in m.distributions()}))")
    return json.loads(_run(str(python), "-c", code).stdout)


def test_a_plugin_installed_alone_pulls_the_core_and_trains(index: Path, tmp_path: Path) -> None:
    """The plugin author's check: wheels in an index, the plugin alone, resolution on."""
    python = _fresh_venv(tmp_path / "venv")
    _pip(python, index, "install", "-q", "training-hub-lineup")
    installed = _installed(python)
    assert installed["training-hub-core"] == "0.1.0"
    assert installed["training-hub-lineup"] == "0.1.0"
    assert "training-hub" not in installed  # the index holds it, as PyPI does; never pulled
    assert "torch" not in installed  # the core without extras is light

    th = str(python.parent / "th")
    env = {**os.environ, "TRAINING_HUB_PLUGIN_CACHE": "0"}
    listing = json.loads(_run(th, "list", "--json", env=env).stdout)
    assert [a["name"] for a in listing["algorithms"]] == ["lineup"]
    assert listing["algorithms"][0]["provided_by"]["distribution"] == "training-hub-lineup"
    out = tmp_path / "out"
    _run(th, "train", "lineup", "--ckpt-output-dir", str(out), "--steps", "100", env=env)
    result = json.loads((out / "result.json").read_text())
    assert result["final_loss"] < result["initial_loss"] / 100


def test_the_other_training_hub_is_detected_and_the_advice_fixes_it(
    index: Path, tmp_path: Path
) -> None:
    python = _fresh_venv(tmp_path / "venv")
    th = str(python.parent / "th")
    env = {**os.environ, "TRAINING_HUB_PLUGIN_CACHE": "0"}
    _pip(python, index, "install", "-q", "training-hub-core")
    clean = _run(th, "doctor", env=env)
    assert "no problems found" in clean.stdout and "unrelated" not in clean.stdout

    # PyPI's training-hub installed after ours overwrites training_hub/__init__.py...
    _pip(python, index, "install", "-q", "training-hub==0.11.2")
    imported = _run(str(python), "-c", "import training_hub; print(training_hub.OTHER_PROJECT)")
    assert imported.stdout.strip() == "True"
    # ...and th doctor (our cli package is still there) names the problem and the fix.
    doctor = _run(th, "doctor", env=env, check=False)
    assert doctor.returncode == 1
    assert "the unrelated distribution 'training-hub' 0.11.2 is installed" in doctor.stdout
    assert "pip uninstall -y training-hub" in doctor.stdout
    assert "ConflictWarning" in doctor.stderr  # every th command warns

    # With our files back on top, `import training_hub` itself warns.
    _pip(python, index, "install", "-q", "--force-reinstall", "--no-deps", "training-hub-core")
    code = "import training_hub; print(hasattr(training_hub, 'OTHER_PROJECT'))"
    warned = _run(str(python), "-c", code)
    assert warned.stdout.strip() == "False"
    assert "ConflictWarning: training_hub: the unrelated distribution 'training-hub' 0.11.2" \
        in warned.stderr

    # The advice, as written in the message.
    _run(sys.executable, "-m", "pip", "--python", str(python), "uninstall", "-y", "-q",
         "training-hub", env=isolated_pip_env())
    # It deleted the files the two shared (training_hub/__init__.py...): ours are broken now.
    broken = _run(str(python), "-c", "from training_hub import __version__", check=False)
    assert broken.returncode == 1 and "ImportError" in broken.stderr
    _pip(python, index, "install", "-q", "--force-reinstall", "--no-deps", "training-hub-core")
    fixed = _run(str(python), "-W", "error", "-c", "import training_hub; print('ok')")
    assert fixed.stdout.strip() == "ok" and fixed.stderr == ""
    assert "no problems found" in _run(th, "doctor", env=env).stdout


def test_import_check_looks_only_next_to_the_package(tmp_path: Path) -> None:
    """The check on import: a training_hub-*.dist-info in our package's folder, nothing else."""
    site = tmp_path / "site"
    (site / "training_hub").mkdir(parents=True)
    write_distribution(site, "training-hub-core", "0.1.0", entry_points={}, modules={})
    write_distribution(site, "training-hub-sft", "0.1.0", entry_points={}, modules={})
    assert _conflict._other_in(str(site)) is None
    write_distribution(site, "training-hub", "0.11.2", entry_points={}, modules={})
    where = _conflict._other_in(str(site))
    assert where == str(site / "training_hub-0.11.2.dist-info")
    assert "'training-hub' 0.11.2 is installed" in _conflict.conflict_message(where)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_conflict, "_warned", False)
        with pytest.warns(_conflict.ConflictWarning, match="pip uninstall -y training-hub"):
            _conflict.warn_if_installed_here(str(site / "training_hub"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _conflict.warn_if_installed_here(str(site / "training_hub"))  # once per process
        patch.setattr(sys, "path", [str(tmp_path), str(site)])
        assert _conflict.conflicting_distributions() == [where]


@pytest.mark.slow
def test_sft_installed_alone_from_the_index_trains_the_demo(index: Path, tmp_path: Path) -> None:
    """The same flow with a plugin that needs the engine: torch, transformers... come from
    wheels repacked from this environment (about 1 GB, uncompressed), so it is slow-marked
    (run: nox -s packaging)."""
    requires = metadata.requires("training-hub-sft") or []
    heavy = [repack_installed(name, tmp_path / "heavy", compress=False)
             for name in dependency_closure(requires) if not name.startswith("training-hub")]
    engine_index = write_simple_index([*index.glob("*/*.whl"), *heavy], tmp_path / "simple")
    python = _fresh_venv(tmp_path / "venv")
    _pip(python, engine_index, "install", "-q", "training-hub-sft")
    installed = _installed(python)
    assert installed["training-hub-core"] == "0.1.0" and "training-hub" not in installed
    assert "torch" in installed and "transformers" in installed  # the core's engine extra
    th = str(python.parent / "th")
    env = {**os.environ, "TRAINING_HUB_PLUGIN_CACHE": "0", "XDG_CACHE_HOME": str(tmp_path)}
    listing = json.loads(_run(th, "list", "--json", env=env).stdout)
    sft = next(a for a in listing["algorithms"] if a["name"] == "sft")
    assert sft["provided_by"]["distribution"] == "training-hub-sft"
    out = tmp_path / "out"
    _run(th, "train", "sft", "--demo", "--max-steps", "2", "--ckpt-output-dir", str(out),
         "--quiet", env=env, timeout=600)
    assert (out / "checkpoints" / "step-2" / "model.safetensors").is_file()
