"""Check PEP 508 requirements against installed distributions without importing them.

Installed versions are read from distribution metadata once per name and
cached (a scan of every installed distribution per lookup made ``th list``
slow with hundreds of plugins); :func:`clear_cache` forgets them.

The common form, ``name`` plus comparisons of plain release numbers
(``torch>=2.5``, ``trl>=0.20,<2``) against an installed release such as
``2.13.0+cpu``, is decided here by PEP 440's rules for those operators; every
other requirement and version (extras, markers, ``~=``, wildcards,
pre-releases...) goes to ``packaging``, whose import alone cost ``th list``
about 15 ms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import _dists

__all__ = ["clear_cache", "missing_requirements"]

_MISSING = object()
_versions: dict[str, object] = {}

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_RELEASE = r"[0-9]+(?:\.[0-9]+)*"
_OPERATOR = r"(?:>=|<=|==|!=|<|>)"
_CLAUSE = re.compile(rf"\s*({_OPERATOR})\s*({_RELEASE})\s*")
_SIMPLE = re.compile(
    rf"\s*({_NAME})\s*((?:{_OPERATOR}\s*{_RELEASE}\s*,\s*)*{_OPERATOR}\s*{_RELEASE})?\s*"
)
_INSTALLED = re.compile(rf"({_RELEASE})(?:\+[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*)?")

Release = tuple[int, ...]
_Simple = tuple[str, tuple[tuple[str, Release], ...]]
_parsed: dict[str, _Simple | None] = {}


def _installed_version(name: str) -> str | None:
    version = _versions.get(name, _MISSING)
    if version is _MISSING:
        version = _dists.version(name)
        _versions[name] = version
    return version  # type: ignore[return-value]


def _release(text: str) -> Release:
    parts = [int(p) for p in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # PEP 440: 2.5 == 2.5.0
    return tuple(parts)


def _simple(text: str) -> _Simple | None:
    """``(name, ((operator, release), ...))`` for the common form, else None."""
    if text not in _parsed:
        match = _SIMPLE.fullmatch(text)
        clauses: tuple[tuple[str, Release], ...] = ()
        if match and match.group(2):
            clauses = tuple(
                (clause.group(1), _release(clause.group(2)))
                for clause in (_CLAUSE.fullmatch(part) for part in match.group(2).split(","))
                if clause is not None
            )
        _parsed[text] = (match.group(1), clauses) if match else None
    return _parsed[text]


def _satisfies(installed: Release, operator: str, wanted: Release) -> bool:
    """PEP 440 for a release (its local label ignored, as for these operators) and a
    specifier version without pre-, post-, dev- or local parts."""
    if operator == ">=":
        return installed >= wanted
    if operator == "<=":
        return installed <= wanted
    if operator == ">":
        return installed > wanted  # 2.5+cpu is not > 2.5
    if operator == "<":
        return installed < wanted
    if operator == "==":
        return installed == wanted
    return installed != wanted  # "!="


def _is_missing(text: str) -> bool:
    simple = _simple(text)
    if simple is not None:
        name, clauses = simple
        installed = _installed_version(name)
        if installed is None:
            return True
        match = _INSTALLED.fullmatch(installed)
        if match is not None:
            release = _release(match.group(1))
            return not all(_satisfies(release, op, wanted) for op, wanted in clauses)
    from packaging.requirements import Requirement

    req = Requirement(text)
    installed = _installed_version(req.name)
    return installed is None or bool(
        req.specifier and not req.specifier.contains(installed, prereleases=True)
    )


def missing_requirements(requirements: Iterable[str]) -> list[str]:
    """The requirements that are not installed, or installed in a version outside the range."""
    return [text for text in requirements if _is_missing(text)]


def clear_cache() -> None:
    """Forget the installed versions read so far (after installing or removing packages)."""
    _versions.clear()
    _dists.clear()
