"""Installed distributions, read straight from the ``*.dist-info`` folders on sys.path.

``th list`` needs the entry points of one group and the versions of a few
requirements. ``importlib.metadata`` answers both, but importing it costs about
30 ms (email, zipfile, pathlib, csv...) and it builds objects for every
distribution. This module reads the same files by the same rules with plain
``os`` calls:

- sys.path is searched in order (``""`` is the current directory). In each
  directory every ``*.dist-info`` and ``*.egg-info`` entry is a distribution,
  keyed by the part of its name before the first ``-``, normalized as
  importlib.metadata normalizes it; the first distribution of a name on
  sys.path shadows the later ones (what ``importlib.metadata.entry_points`` and
  ``importlib.metadata.version`` do).
- entry_points.txt is read as importlib.metadata reads it: stripped lines,
  ``#`` comments skipped, ``[group]`` sections, ``name = value`` pairs (a line
  without ``=`` is skipped, where importlib.metadata raises and one bad file
  hides every plugin).
- A version is the ``Version`` header of METADATA (PKG-INFO, or the file
  itself, for eggs). For entry points, name and version come from the
  ``name-version.dist-info`` folder name (a METADATA file per plugin made
  start-up slow with hundreds of plugins).

Where these rules might not match what importlib.metadata finds (a zip file or
an ``.egg`` on sys.path, an extra distribution finder on sys.meta_path, an
unusual folder or header), the answer comes from importlib.metadata itself.
The scan is kept while sys.path and the modification times of its folders stay
the same, or until :func:`clear`.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, NamedTuple

__all__ = [
    "EntryPointInfo", "Memo", "Stamp", "clear", "current_stamp", "entry_points", "version",
]


class EntryPointInfo(NamedTuple):
    """One entry point of a group and the distribution that declares it."""

    name: str
    value: str
    distribution: str
    version: str


_SEPARATORS = re.compile(r"[-_.]+")
_SUFFIXES = (".dist-info", ".egg-info")


def _normalize(name: str) -> str:
    """importlib.metadata's key: PEP 503 normalization with ``_`` for ``-``."""
    return _SEPARATORS.sub("_", name).lower()


#: sys.path (``""`` as the absolute current directory) and each entry's modification time.
Stamp = tuple[tuple[str, ...], tuple[int | None, ...]]


def _stamp() -> Stamp:
    """sys.path and the modification times (ns) of its entries: a scan is valid while
    they are equal, since installing or removing a distribution adds or removes an
    entry of a folder on sys.path."""
    paths = tuple(os.path.abspath(entry) if not entry else entry for entry in sys.path)
    mtimes: list[int | None] = []
    for entry in paths:
        try:
            mtimes.append(os.stat(entry).st_mtime_ns)
        except OSError:
            mtimes.append(None)
    return paths, tuple(mtimes)


class _Scan:
    """The first metadata folder of each distribution name on sys.path, in order."""

    def __init__(self) -> None:
        self.stamp = _stamp()
        self.exact = _plain_path_finders()
        self.first: dict[str, str] = {}
        if not self.exact:
            return
        for root in self.stamp[0]:
            try:
                children = os.listdir(root)
            except NotADirectoryError:
                # A file, maybe a zip of packages: importlib.metadata looks inside it.
                self.exact = False
                return
            except OSError:
                continue  # missing or unreadable: importlib.metadata finds nothing there
            if root.lower().endswith(".egg"):
                self.exact = False  # an egg folder: its EGG-INFO follows other rules
                return
            for child in children:
                low = child.lower()
                if not low.endswith(_SUFFIXES):
                    continue
                if not child.endswith(_SUFFIXES):
                    self.exact = False  # "Foo.DIST-INFO": keyed by its METADATA name
                    return
                key = _normalize(low.rpartition(".")[0].partition("-")[0])
                if key not in self.first:
                    self.first[key] = os.path.join(root, child)


def _plain_path_finders() -> bool:
    """Whether sys.path's PathFinder is the only finder that lists distributions."""
    from importlib.machinery import PathFinder

    return not any(
        getattr(finder, "find_distributions", None) is not None and finder is not PathFinder
        for finder in sys.meta_path
    )


_scan: _Scan | None = None


def _current() -> _Scan:
    """The scan of sys.path, made again when sys.path or a folder on it changed (the
    rule importlib.metadata's own cache follows)."""
    global _scan
    if _scan is None or _scan.stamp != _stamp():
        _scan = _Scan()
    return _scan


def current_stamp() -> Stamp:
    """The stamp of the scan in use (the scan is made again first when it is stale)."""
    return _current().stamp


def clear() -> None:
    """Forget the scan (after installing or removing distributions)."""
    global _scan
    _scan = None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _group_pairs(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` pairs of section ``[group]`` of an entry_points.txt."""
    pairs = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section == group and "=" in line:
            name, value = line.split("=", 1)
            pairs.append((name.strip(), value.strip()))
    return pairs


def _headers(folder: str, *wanted: str) -> dict[str, str] | None:
    """Headers ``wanted`` of a distribution's metadata, or None when they are not plain."""
    text = (
        _read(os.path.join(folder, "METADATA"))
        or _read(os.path.join(folder, "PKG-INFO"))
        or (_read(folder) if os.path.isfile(folder) else None)
    )
    if not text:
        return None
    keys = {w.lower(): w for w in wanted}
    found: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        name, sep, value = line.partition(":")
        if not sep or not name or " " in name or "\t" in name:
            break  # the blank line (or anything else) that ends the headers
        key = name.lower()
        if key not in keys or keys[key] in found:
            continue
        if index + 1 < len(lines) and lines[index + 1][:1] in (" ", "\t"):
            return None  # a folded header: let the email parser read it
        found[keys[key]] = value.lstrip(" \t")
    return found


def _from_folder_name(base: str) -> tuple[str, str] | None:
    """Name and version from a ``name-version.dist-info`` folder name, else None."""
    if base.endswith(".dist-info"):
        name, sep, version = base[: -len(".dist-info")].rpartition("-")
        if sep and name and version:
            return name.replace("_", "-"), version
    return None


def _name_and_version(folder: str) -> tuple[str, str] | None:
    from_name = _from_folder_name(os.path.basename(folder))
    if from_name is not None:
        return from_name
    headers = _headers(folder, "Name", "Version")
    if headers is None or "Name" not in headers or "Version" not in headers:
        return None
    return headers["Name"], headers["Version"]


#: What :func:`entry_points` read from one folder's entry_points.txt: its modification
#: time (ns) and size (None when it has none), then its entry points of the group.
Memo = dict[str, list[Any]]


def entry_points(group: str, memo: Memo | None = None) -> list[EntryPointInfo]:
    """Every entry point of ``group`` of the installed distributions (unsorted).

    With ``memo`` (from an earlier call for the same group, kept by the caller),
    an entry_points.txt whose modification time and size are unchanged is not
    read again; ``memo`` is brought up to date in place.
    """
    scan = _current()
    if not scan.exact:
        return _metadata_entry_points(group)
    found: list[EntryPointInfo] = []
    for folder in scan.first.values():
        path = os.path.join(folder, "entry_points.txt")
        if memo is None:
            found += _folder_entry_points(folder, _read(path), group)
            continue
        mtime: int | None = None
        size: int | None = None
        try:
            info = os.stat(path)
            mtime, size = info.st_mtime_ns, info.st_size
        except OSError:
            pass
        known = memo.get(folder)
        if known is None or not _memo_entry_is_current(known, mtime, size):
            entries = _folder_entry_points(folder, None if mtime is None else _read(path), group)
            known = memo[folder] = [mtime, size, [list(e) for e in entries]]
        found += [EntryPointInfo(*e) for e in known[2]]
    return found


def _memo_entry_is_current(known: Any, mtime: int | None, size: int | None) -> bool:
    """Whether a memo entry is well formed and was read from this very file."""
    return (
        isinstance(known, list) and len(known) == 3 and known[0] == mtime
        and known[1] == size and isinstance(known[2], list)
        and all(isinstance(e, list) and len(e) == 4 and all(isinstance(f, str) for f in e)
                for e in known[2])
    )


def _folder_entry_points(folder: str, text: str | None, group: str) -> list[EntryPointInfo]:
    if text is None or group not in text:
        return []
    pairs = _group_pairs(text, group)
    if not pairs:
        return []
    owner = _name_and_version(folder)
    if owner is None:
        owner = _metadata_name_and_version(_path_distribution(folder))
    return [EntryPointInfo(name, value, *owner) for name, value in pairs]


def version(name: str) -> str | None:
    """The installed version of distribution ``name``, None when it is not installed."""
    scan = _current()
    if not scan.exact:
        return _metadata_version(name)
    folder = scan.first.get(_normalize(name))
    if folder is None:
        return None
    headers = _headers(folder, "Version")
    if headers is None:
        value: Any = _path_distribution(folder).version
        return None if value is None else str(value)
    return headers.get("Version")


# --- importlib.metadata, where the plain rules above might not hold ------------------


def _path_distribution(folder: str) -> Any:
    from importlib import metadata
    from pathlib import Path

    return metadata.PathDistribution(Path(folder))


def _metadata_name_and_version(dist: Any) -> tuple[str, str]:
    if dist is None:
        return "(unknown)", "?"
    folder = getattr(dist, "_path", None)
    from_name = _from_folder_name(folder.name) if folder is not None else None
    if from_name is not None:
        return from_name
    return str(dist.metadata["Name"]), str(dist.version)


def _metadata_entry_points(group: str) -> list[EntryPointInfo]:
    # importlib.metadata.entry_points() parses every distribution's file at once, and
    # one malformed line anywhere (in any finder's distributions, e.g. those of the
    # third-party importlib_metadata) raises for all of them; read them one by one.
    from importlib import metadata

    found: list[EntryPointInfo] = []
    seen: set[str] = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        key = _normalize(str(name)) if name else ""
        if key in seen:
            continue
        seen.add(key)
        folder = getattr(dist, "_path", None)
        if folder is not None:
            found += _folder_entry_points(str(folder), dist.read_text("entry_points.txt"), group)
            continue
        try:
            points = list(dist.entry_points.select(group=group))
        except (TypeError, ValueError):
            continue
        found += [EntryPointInfo(ep.name, ep.value, *_metadata_name_and_version(dist))
                  for ep in points]
    return found


def _metadata_version(name: str) -> str | None:
    from importlib import metadata

    try:
        value: Any = metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
    return None if value is None else str(value)
