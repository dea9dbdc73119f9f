"""What plugins registered, remembered on disk so that ``th list`` need not import them.

Listing every installed algorithm runs every plugin's registration hooks, so it
imports every plugin module: with hundreds of plugins that costs more than
the rest of ``th list``. Only the listing (``inventory()``) uses this cache;
creating an algorithm imports its plugin as before.

A plugin's registrations are remembered when they are plain data that a later
process can replay exactly: it implements no hook but the three registration
hooks, every target is an import string, every other value is a string,
number, boolean or list of strings, and its module does not set
``TRAINING_HUB_CACHE_REGISTRATIONS = False`` (for registrations that depend on
anything but the installed files, such as an environment variable).

A remembered entry is used while, as for Python's own ``.pyc`` files, nothing
it came from has changed:

- the same Python, training-hub version and sys.path, and every folder on
  sys.path has its modification time (installing, upgrading or removing any
  distribution adds or removes an entry there, so any install forgets
  everything; the rule importlib.metadata's cache follows);
- the plugin's distribution, version and entry point are the same;
- the module the entry point names, its parent packages and the modules of its
  package that its import loaded have the same modification time and size (an
  editable install's source is edited in place).

A file changed less than :data:`RACY_SECONDS` before the cache was written
could change again without a visible new time, so such an entry is not kept
(what git does with its index). ``TRAINING_HUB_PLUGIN_CACHE=0`` turns the cache
off; it lives in ``$XDG_CACHE_HOME/training-hub/plugins`` (by default
``~/.cache/training-hub/plugins``), one file per environment, the
:data:`MAX_CACHE_FILES` most recently written kept. A cache that cannot be read
or written is ignored: the plugins are then imported.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import zlib
from collections.abc import Iterable
from typing import Any

from . import _dists
from ._version import __version__

__all__ = [
    "CACHE_FORMAT_VERSION",
    "ENV_PLUGIN_CACHE",
    "MAX_CACHE_FILES",
    "OPT_OUT_ATTRIBUTE",
    "RACY_SECONDS",
    "RegistrationCache",
    "cache_file",
    "source_files",
    "storable",
]

logger = logging.getLogger("training_hub")

CACHE_FORMAT_VERSION = 1
ENV_PLUGIN_CACHE = "TRAINING_HUB_PLUGIN_CACHE"
OPT_OUT_ATTRIBUTE = "TRAINING_HUB_CACHE_REGISTRATIONS"
RACY_SECONDS = 2.0
#: Cache files kept (one per environment); the least recently written go first.
MAX_CACHE_FILES = 32
_TARGET_POSITION = {"algorithm": 1, "backend": 2}

#: One file: path, modification time (ns), size.
FileStamp = tuple[str, int, int]
#: One registration as stored: kind, positional arguments, keyword options.
Stored = tuple[str, list[Any], dict[str, Any]]


def cache_file(stamp: _dists.Stamp | None = None) -> str | None:
    """This environment's cache file (named after the interpreter and ``sys.path`` of
    ``stamp``), or None when the cache is turned off."""
    if os.environ.get(ENV_PLUGIN_CACHE, "").strip().lower() in ("0", "false", "no", "off"):
        return None
    paths = (stamp or _dists.current_stamp())[0]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    environment = "\0".join((sys.executable, *paths))
    name = f"plugins-{zlib.crc32(environment.encode('utf-8', 'surrogatepass')):08x}.json"
    return os.path.join(base, "training-hub", "plugins", name)


def _header(stamp: _dists.Stamp) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT_VERSION,
        "training_hub": __version__,
        "python": sys.version,
        "executable": sys.executable,
        "sys_path": list(stamp[0]),
        "mtimes": list(stamp[1]),
    }


def _file_stamp(path: str) -> FileStamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (path, info.st_mtime_ns, info.st_size)


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def storable(kind: str, args: tuple[Any, ...], options: dict[str, Any]) -> Stored | None:
    """A registration as plain data a later process replays exactly, else None."""
    target_at = _TARGET_POSITION.get(kind)
    if target_at is None or not isinstance(args[target_at], str):
        return None  # components and class targets are objects, not data
    if not all(_is_plain(a) for a in args) or not all(_is_plain(v) for v in options.values()):
        return None
    return (kind, list(args), {k: list(v) if isinstance(v, tuple) else v
                               for k, v in options.items()})


def source_files(module_name: str, imported: Iterable[str] = ()) -> list[str] | None:
    """The files a plugin's registrations came from: module ``module_name``, its parent
    packages (a namespace package has none) and the modules of the same top-level
    package in ``imported`` (those its import loaded). None when one of the first two
    is not a plain file (built in, frozen, not loaded)."""
    parts = module_name.split(".")
    files = []
    for end in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:end]))
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            files.append(path)
        elif end == len(parts) or module is None or not hasattr(module, "__path__"):
            return None
    prefix = parts[0] + "."
    for name in imported:
        if name.startswith(prefix):
            path = getattr(sys.modules.get(name), "__file__", None)
            if isinstance(path, str) and path not in files:
                files.append(path)
    return files


class RegistrationCache:
    """The remembered registrations of one environment: read once, written at most once."""

    def __init__(self, stamp: _dists.Stamp, path: str | None) -> None:
        self.path = path
        self.stamp = stamp
        self._stored: dict[str, dict[str, Any]] = {}
        self._keep: dict[str, dict[str, Any]] = {}
        self._changed = False
        #: What ``_dists.entry_points`` read from each entry_points.txt (kept up to date).
        self.entry_points: _dists.Memo = {}
        if path is not None:
            self._stored, self.entry_points = self._read(path)
        # _dists replaces a memo entry it reads again, never changes one in place.
        self._entry_points_before = dict(self.entry_points)

    @classmethod
    def for_this_environment(cls) -> RegistrationCache:
        stamp = _dists.current_stamp()  # the one the entry-point scan is valid for
        return cls(stamp, cache_file(stamp))

    def _read(self, path: str) -> tuple[dict[str, dict[str, Any]], _dists.Memo]:
        import json

        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if {k: data.get(k) for k in _header(self.stamp)} != _header(self.stamp):
                return {}, {}
            plugins, entry_points = data["plugins"], data["entry_points"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}, {}
        if not isinstance(plugins, dict) or not isinstance(entry_points, dict):
            return {}, {}
        return plugins, entry_points

    @staticmethod
    def key(distribution: str, version: str, value: str) -> str:
        return f"{distribution}=={version} {value}"

    def recall(self, key: str) -> list[Stored] | None:
        """The registrations remembered for ``key`` if nothing they came from changed."""
        entry = self._stored.get(key)
        if entry is None:
            return None
        try:
            files = [tuple(f) for f in entry["files"]]
            if any(_file_stamp(path) != (path, mtime, size) for path, mtime, size in files):
                return None
            stored: list[Stored] = [(kind, list(args), dict(options))
                                    for kind, args, options in entry["registrations"]]
        except (KeyError, TypeError, ValueError):
            return None
        if not all(_TARGET_POSITION.get(kind) == len(args) - 1 for kind, args, _ in stored):
            return None  # not what storable() writes
        self._keep[key] = entry
        return stored

    def remember(self, key: str, files: list[str], registrations: list[Stored],
                 *, api_notice: str | None = None) -> None:
        """``api_notice``: the plugin declares no TRAINING_HUB_PLUGIN_API (``_plugins``)."""
        stamps = [_file_stamp(path) for path in files]
        if any(s is None for s in stamps):
            return
        self._keep[key] = {"files": stamps, "registrations": registrations}
        if api_notice:
            self._keep[key]["api_notice"] = api_notice
        self._changed = True

    def api_notice(self, key: str) -> str | None:
        """The API notice remembered with ``key`` (entries of plugins that declare their
        API have none)."""
        notice = self._keep.get(key, {}).get("api_notice")
        return notice if isinstance(notice, str) else None

    def save(self) -> None:
        """Write what was recalled or remembered, when it differs from the file's content."""
        if self.path is None:
            return
        if (not self._changed and self._keep.keys() == self._stored.keys()
                and self.entry_points == self._entry_points_before):
            return
        newest_allowed = time.time_ns() - int(RACY_SECONDS * 1e9)
        if any(m is not None and m > newest_allowed for m in self.stamp[1]):
            return  # a folder on sys.path just changed: remember nothing yet
        import json

        kept = {key: entry for key, entry in self._keep.items()
                if all(mtime <= newest_allowed for _, mtime, _ in entry["files"])}
        entry_points = {folder: known for folder, known in self.entry_points.items()
                        if known[0] is None or known[0] <= newest_allowed}
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            partial = f"{self.path}.{os.getpid()}.tmp"
            with open(partial, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({**_header(self.stamp), "plugins": kept,
                                         "entry_points": entry_points}))
            os.replace(partial, self.path)
            _prune(os.path.dirname(self.path))
        except OSError as exc:
            logger.debug("training-hub: cannot write the plugin cache %s: %s", self.path, exc)


def _prune(folder: str) -> None:
    """Remove the least recently written cache files beyond :data:`MAX_CACHE_FILES` (each
    ``sys.path``, e.g. each working directory of ``python -m``, has its own file)."""
    files = []
    for name in os.listdir(folder):
        if name.startswith("plugins-") and name.endswith(".json"):
            path = os.path.join(folder, name)
            try:
                files.append((os.stat(path).st_mtime_ns, path))
            except OSError:
                continue  # removed meanwhile by another process
    for _, path in sorted(files)[:-MAX_CACHE_FILES]:
        try:
            os.remove(path)
        except OSError:
            pass
