"""Developer sessions: ``nox -s tests lint typecheck docs plugins slow gpu bench``.

Every session installs torch from constraints.txt (the CPU build) so that no
multi-GB CUDA build is pulled, and installs the core (the distribution
``training-hub-core``) and the plugins from this checkout in one pip call.
"""

from __future__ import annotations

import re
from pathlib import Path

import nox
import tomllib

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
CONSTRAINTS = ("-c", "constraints.txt")


def _install_all(session: nox.Session, *extra: str) -> None:
    editable = [arg for plugin in PLUGINS for arg in ("-e", str(plugin))]
    session.install(*CONSTRAINTS, "-e", ".[engine,dev,parquet,plot,tensorboard,hub]", *editable,
                    *extra)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole fast suite: core, engine and every plugin's tests."""
    _install_all(session)
    session.run("pytest", "-q", "tests", *[str(p / "tests") for p in PLUGINS], *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """Tests marked slow (multi-process, retention experiment, long resumes)."""
    _install_all(session)
    session.run("pytest", "-q", "-m", "slow", "tests", *[str(p / "tests") for p in PLUGINS],
                *session.posargs)


def _local_plugin_dependencies(plugin: Path) -> list[Path]:
    """The plugins of this checkout that ``plugin`` depends on (e.g. an sft backend on sft)."""
    project = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0] for dep in project["dependencies"]}
    return [p for p in PLUGINS if p.name in names]


@nox.session
def plugins(session: nox.Session) -> None:
    """Each plugin distribution alone: a fresh venv with the core, that plugin and only the
    plugins of this checkout it depends on."""
    for plugin in PLUGINS:
        session.log(f"--- {plugin.name}")
        venv = Path(session.create_tmp()) / plugin.name
        session.run("python", "-m", "venv", str(venv), external=True)
        pip = str(venv / "bin" / "pip")
        local = [arg for dep in _local_plugin_dependencies(plugin) for arg in ("-e", str(dep))]
        session.run(pip, "install", "-q", *CONSTRAINTS, "-e", ".[engine,dev]", *local, "-e",
                    str(plugin), external=True)
        session.run(str(venv / "bin" / "pytest"), "-q", str(plugin / "tests"), external=True)


@nox.session
def packaging(session: nox.Session) -> None:
    """The plugin author's flow from wheels in a local index (tests/core/test_distribution.py,
    its slow test too: a plugin that needs torch, installed alone into a fresh venv)."""
    _install_all(session)
    session.run("pytest", "-q", "-m", "slow or not slow", "tests/core/test_distribution.py",
                *session.posargs)


@nox.session
def gpu(session: nox.Session) -> None:
    """The GPU tests (they skip without CUDA), on a machine with a CUDA GPU.

    torch is not pinned to the CPU build here, so pip installs its default CUDA build.
    """
    editable = [arg for plugin in PLUGINS for arg in ("-e", str(plugin))]
    session.install("-e", ".[engine,dev]", *editable, "liger-kernel")
    session.run("pytest", "-q", "-m", "gpu", "-rs", "tests",
                *[str(p / "tests") for p in PLUGINS], *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "plugins", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy, strict on the core package."""
    session.install(*CONSTRAINTS, "-e", ".[engine,dev]", "types-PyYAML")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs (API reference from docstrings) with warnings as errors.

    The mkdocs configuration is written here, since the top level of the
    repository holds no mkdocs.yml.
    """
    _install_all(session, "mkdocs>=1.6", "mkdocstrings[python]>=0.26")
    tmp = Path(session.create_tmp())
    config = tmp / "mkdocs.yml"
    config.write_text(
        "site_name: training-hub\n"
        f"docs_dir: {ROOT / 'docs'}\n"
        f"site_dir: {tmp / 'site'}\n"
        "plugins:\n  - search\n  - mkdocstrings:\n      handlers:\n        python:\n"
        f"          paths: [{ROOT / 'src'}]\n"
    )
    session.run("mkdocs", "build", "--strict", "-f", str(config))


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the tools users would pick instead (see docs/benchmarks.md)."""
    _install_all(session, "trl")
    session.run("python", "benchmarks/run_all.py", *session.posargs)
