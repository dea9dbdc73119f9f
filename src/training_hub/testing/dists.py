"""Write real plugin distributions for tests: modules plus ``*.dist-info`` with entry points.

``write_distribution`` lays out what an installed wheel leaves in site-packages
(METADATA, entry_points.txt, RECORD), so ``importlib.metadata`` discovers it
exactly as it discovers a pip-installed plugin once the folder is on sys.path.
``build_wheel`` makes a real wheel of such a distribution for pip to install.
"""

from __future__ import annotations

import base64
import hashlib
import textwrap
import zipfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["build_wheel", "write_distribution"]

_GROUP = "training_hub.algorithms"


def _metadata(name: str, version: str, requires: list[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n"


def _entry_points(entry_points: Mapping[str, str]) -> str:
    body = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    return f"[{_GROUP}]\n{body}"


def _files(
    name: str, version: str, entry_points: Mapping[str, str], modules: Mapping[str, str],
    requires: list[str],
) -> dict[str, str]:
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    files = {path: textwrap.dedent(source) for path, source in modules.items()}
    files[f"{dist_info}/METADATA"] = _metadata(name, version, requires)
    files[f"{dist_info}/entry_points.txt"] = _entry_points(entry_points)
    files[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: training-hub-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )
    return files


def write_distribution(
    site: Path,
    name: str,
    version: str = "1.0",
    *,
    entry_points: Mapping[str, str],
    modules: Mapping[str, str],
    requires: list[str] | None = None,
) -> Path:
    """Write modules (``{"pkg/plugin.py": source}``) and dist-info into ``site``."""
    files = _files(name, version, entry_points, modules, requires or [])
    for path, content in files.items():
        target = site / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    dist_info = next(p for p in files if p.endswith("/METADATA")).split("/")[0]
    record = [f"{p},," for p in files] + [f"{dist_info}/RECORD,,"]
    (site / dist_info / "RECORD").write_text("\n".join(record) + "\n")
    return site / dist_info


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(
    out_dir: Path,
    name: str,
    version: str = "1.0",
    *,
    entry_points: Mapping[str, str],
    modules: Mapping[str, str],
    requires: list[str] | None = None,
) -> Path:
    """A real ``.whl`` of the distribution, installable with ``pip install``."""
    files = _files(name, version, entry_points, modules, requires or [])
    dist_info = next(p for p in files if p.endswith("/METADATA")).split("/")[0]
    wheel = out_dir / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    out_dir.mkdir(parents=True, exist_ok=True)
    record = []
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, content in files.items():
            data = content.encode()
            archive.writestr(path, data)
            record.append(_record_line(path, data))
        record.append(f"{dist_info}/RECORD,,")
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel
