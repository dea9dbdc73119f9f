"""Check PEP 508 requirements against installed distributions without importing them."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

__all__ = ["missing_requirements"]


def missing_requirements(requirements: Iterable[str]) -> list[str]:
    """The requirements that are not installed, or installed in a version outside the range."""
    missing = []
    for text in requirements:
        from packaging.requirements import Requirement

        req = Requirement(text)
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(text)
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            missing.append(text)
    return missing
