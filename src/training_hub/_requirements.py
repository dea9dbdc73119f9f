"""Check PEP 508 requirements against installed distributions without importing them.

Installed versions are read from distribution metadata once per name and
cached (a scan of every installed distribution per lookup made ``th list``
slow with hundreds of plugins); :func:`clear_cache` forgets them.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

__all__ = ["clear_cache", "missing_requirements"]

_MISSING = object()
_versions: dict[str, object] = {}


def _installed_version(name: str) -> str | None:
    version = _versions.get(name, _MISSING)
    if version is _MISSING:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = None
        _versions[name] = version
    return version  # type: ignore[return-value]


def missing_requirements(requirements: Iterable[str]) -> list[str]:
    """The requirements that are not installed, or installed in a version outside the range."""
    missing = []
    for text in requirements:
        from packaging.requirements import Requirement

        req = Requirement(text)
        installed = _installed_version(req.name)
        if installed is None or (
            req.specifier and not req.specifier.contains(installed, prereleases=True)
        ):
            missing.append(text)
    return missing


def clear_cache() -> None:
    """Forget the installed versions read so far (after installing or removing packages)."""
    _versions.clear()
