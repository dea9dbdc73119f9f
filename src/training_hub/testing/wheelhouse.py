"""An offline package index for tests that ``pip install`` with dependency resolution on.

A test of "``pip install my-plugin`` pulls the right core" needs every dependency
of the core (pluggy, typer, pydantic...) as wheels, with no network. The
installed distributions of the running environment are exactly those
dependencies, so :func:`repack_installed` writes a wheel of an installed
distribution from the files its RECORD lists (the same files, the tags of its
WHEEL file, a new RECORD); pip regenerates console scripts from
entry_points.txt. Files outside site-packages (``../../bin/...``,
``../../share/...``) are left out. These wheels are for a local test index
only, never for publishing.

:func:`dependency_closure` lists the distributions that requirements need in
this environment (markers evaluated, extras followed), :func:`write_simple_index`
lays wheels out as a PEP 503 "simple" index folder for ``pip --index-url
file://...``, and :func:`isolated_pip_env` is an environment in which pip reads no
configuration file and no ``PIP_*`` variable of the machine, so only the index
a test names is used.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

__all__ = [
    "dependency_closure", "isolated_pip_env", "repack_installed", "write_simple_index",
]

_INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _compressed_tag(tags: list[str]) -> str:
    """``py2-none-any`` + ``py3-none-any`` -> ``py2.py3-none-any`` (PEP 425)."""
    parts: list[list[str]] = [[], [], []]
    for tag in tags:
        for position, value in enumerate(tag.split("-")):
            if value not in parts[position]:
                parts[position].append(value)
    return "-".join(".".join(values) for values in parts)


def repack_installed(name: str, out_dir: Path, *, compress: bool = True) -> Path:
    """A wheel of the installed distribution ``name`` in ``out_dir``; returns its path.

    ``compress=False`` stores the files uncompressed (much faster for torch-sized
    distributions). Raises ``ValueError`` for an editable install (its files are not
    in site-packages).
    """
    dist = metadata.distribution(name)
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct_url.get("dir_info", {}).get("editable"):
        raise ValueError(f"{name} is an editable install: build its wheel from its source")
    wheel_text = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_text.splitlines()
            if line.startswith("Tag:")]
    if not tags or dist.files is None:
        raise ValueError(f"{name} has no WHEEL tags or RECORD: it was not installed from a wheel")
    dist_name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    version = dist.version
    dist_info = f"{dist_name}-{version}.dist-info"
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{dist_name}-{version}-{_compressed_tag(tags)}.whl"
    record = []
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(wheel, "w", method) as archive:
        for file in dist.files:
            path = file.as_posix()
            if path.startswith("..") or "__pycache__" in path or path.endswith(".pyc"):
                continue
            top, _, base = path.partition("/")
            if top.endswith(".dist-info"):
                if base in _INSTALLER_FILES:
                    continue
                path = f"{dist_info}/{base}"
            source = Path(str(dist.locate_file(file)))
            if not source.is_file():
                continue
            data = source.read_bytes()
            archive.writestr(path, data)
            record.append(_record_line(path, data))
        record.append(f"{dist_info}/RECORD,,")
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel


def dependency_closure(requirements: Iterable[str]) -> list[str]:
    """The installed distributions (names) that ``requirements`` need here, transitively.

    Markers are evaluated for this interpreter; ``name[extra]`` follows the
    extra's requirements. Raises ``PackageNotFoundError`` for one not installed.
    """
    from packaging.requirements import Requirement

    found: dict[str, None] = {}
    pending = [(Requirement(r), "") for r in requirements]
    seen: set[tuple[str, str]] = set()
    while pending:
        requirement, from_extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate(
            {"extra": from_extra}
        ):
            continue
        key = _normalize(requirement.name)
        for extra in sorted(requirement.extras) or [""]:
            if (key, extra) in seen:
                continue
            seen.add((key, extra))
            found.setdefault(key)
            dist = metadata.distribution(requirement.name)
            for line in dist.requires or []:
                child = Requirement(line)
                if child.marker is None or child.marker.evaluate({"extra": extra}):
                    pending.append((child, extra))
    return sorted(found)


def write_simple_index(wheels: Iterable[Path], root: Path) -> Path:
    """A PEP 503 simple index of ``wheels`` under ``root``; returns ``root``.

    ``root/<project>/index.html`` links each wheel (copied next to it, with its
    sha256 in the link), the layout ``pip install --index-url file://<root>`` reads.
    """
    projects: dict[str, list[Path]] = {}
    for wheel in wheels:
        projects.setdefault(_normalize(wheel.name.split("-")[0]), []).append(wheel)
    root.mkdir(parents=True, exist_ok=True)
    links = []
    for project, files in sorted(projects.items()):
        folder = root / project
        folder.mkdir(exist_ok=True)
        anchors = []
        for wheel in files:
            target = folder / wheel.name
            if wheel.resolve() != target.resolve():
                shutil.copyfile(wheel, target)
            digest = hashlib.sha256(target.read_bytes()).hexdigest()
            anchors.append(f'<a href="{html.escape(wheel.name)}#sha256={digest}">'
                           f"{html.escape(wheel.name)}</a><br/>")
        (folder / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>\n"
        )
        links.append(f'<a href="{project}/">{project}</a><br/>')
    (root / "index.html").write_text(
        "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n"
    )
    return root


def isolated_pip_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: os.environ) without ``PIP_*`` variables and with no pip config
    file, so that only the indexes given on the command line are used."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env
