"""Developer sessions: ``nox -s tests lint typecheck docs screenshots plugins slow gpu bench``.

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
#: Extras a plugin's tests need (its backend's library), installed with it.
PLUGIN_EXTRAS = {"training-hub-embedding": "[sentence-transformers]"}


def _spec(plugin: Path) -> str:
    return str(plugin) + PLUGIN_EXTRAS.get(plugin.name, "")


def _install_all(session: nox.Session, *extra: str) -> None:
    editable = [arg for plugin in PLUGINS for arg in ("-e", _spec(plugin))]
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
                    _spec(plugin), external=True)
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
    editable = [arg for plugin in PLUGINS for arg in ("-e", _spec(plugin))]
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


MKDOCS_CONFIG = "docs/_mkdocs/mkdocs.yml"
SITE_DIR = "build/docs/site"


def _build_docs(session: nox.Session) -> None:
    session.install(*CONSTRAINTS, "-e", ".[docs]")
    session.run("python", "benchmarks/plots.py")  # the benchmark figures, from the results
    session.run("mkdocs", "build", "--strict", "-f", MKDOCS_CONFIG,
                env={"NO_MKDOCS_2_WARNING": "1"})
    session.log(f"site: {SITE_DIR}/index.html")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site into build/docs/site/ (mkdocs-material; the API reference from
    the docstrings by mkdocstrings), strict: any warning or dead link fails the build.

    The configuration is docs/_mkdocs/mkdocs.yml (mkdocs wants its docs_dir apart from
    the configuration's folder, and the pages stay in docs/ where README links them).
    """
    _build_docs(session)


@nox.session
def screenshots(session: nox.Session) -> None:
    """Build the site, then open two pages in headless Chromium (Debian's ``chromium``
    package) and check the screenshots: theme applied, figures loaded, not blank
    (docs/_mkdocs/screenshots.py). Screenshots land in build/docs/screenshots/."""
    _build_docs(session)
    session.run("python", "docs/_mkdocs/screenshots.py", SITE_DIR, "build/docs/screenshots")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the tools users would pick instead (see docs/benchmarks.md)."""
    _install_all(session, "trl")
    session.run("python", "benchmarks/run_all.py", *session.posargs)
