"""What is installed: algorithms, backends, their providers, broken and skipped plugins.

Runs every (allowed) plugin's registration hooks, never a backend's
implementation, so it stays fast; unchanged plugins are not even imported: their
registrations are replayed from the cache in ``_plugin_cache``. ``th list``,
``th list --json`` and ``th doctor`` render it; the JSON form is documented in
docs/cli.md and versioned by ``schema_version``.
"""

from __future__ import annotations

from typing import Any

from ._algorithm_registry import AlgorithmRegistry
from ._errors import UserError
from ._plugins import ENTRY_POINT_GROUP, PLUGIN_API_VERSION, plugin_manager
from ._version import __version__

__all__ = ["INVENTORY_SCHEMA_VERSION", "inventory"]

INVENTORY_SCHEMA_VERSION = 1


def inventory(*, remember: bool = True) -> dict[str, Any]:
    """A JSON-ready description of everything the registry knows; ``remember=False``
    imports every plugin instead of replaying unchanged ones from the cache."""
    loader = plugin_manager()
    loader.load_all(remember=remember)
    algorithms: list[dict[str, Any]] = []
    for name in AlgorithmRegistry.list_algorithms():
        try:
            entry = AlgorithmRegistry.algorithm_entry(name)
        except UserError as exc:
            algorithms.append({"name": name, "status": "broken", "error": str(exc),
                               "backends": []})
            continue
        backends: list[dict[str, Any]] = []
        entries = AlgorithmRegistry.backend_entries(name)
        for backend_name in AlgorithmRegistry.ordered_backends(entries, entry.default_backend):
            backend = entries[backend_name]
            problem = backend.problem()
            backends.append(
                {
                    "name": backend_name,
                    "target": backend.target_name,
                    "default": backend_name == entry.default_backend,
                    "status": "unavailable" if problem else "ok",
                    "problem": problem,
                    "requires": list(backend.all_requirements()),
                    "requires_cuda": backend.requires_cuda,
                    "provided_by": backend.origin.to_dict(),
                    "description": backend.description,
                }
            )
        algorithms.append(
            {
                "name": name,
                "status": "ok",
                "target": entry.target_name,
                "description": entry.description,
                "default_backend": entry.default_backend,
                "provided_by": entry.origin.to_dict(),
                "backends": backends,
            }
        )
    return {
        "schema_version": INVENTORY_SCHEMA_VERSION,
        "training_hub_version": __version__,
        "plugin_api_version": PLUGIN_API_VERSION,
        "entry_point_group": ENTRY_POINT_GROUP,
        "algorithms": algorithms,
        "plugins": [
            {"distribution": p.distribution, "version": p.version, "entry_point": p.name,
             "module": p.value, **_api_fields(loader.api_notices, p.value)}
            for p in loader.advertised()
        ],
        "broken": [{**b.origin.to_dict(), "error": b.error, "message": b.line}
                   for b in loader.broken],
        "skipped": [{"distribution": s.plugin.distribution, "version": s.plugin.version,
                     "entry_point": s.plugin.name, "reason": s.reason}
                    for s in loader.skipped],
        "conflicts": [{"what": c.what, "winner": c.winner.to_dict(),
                       "losers": [o.to_dict() for o in c.losers], "message": c.line}
                      for c in AlgorithmRegistry.conflicts()],
    }


def _api_fields(notices: dict[str, str | None], value: str) -> dict[str, Any]:
    """``api_declared`` (None: the plugin did not load) and ``notice`` of one plugin."""
    if value not in notices:
        return {"api_declared": None, "notice": None}
    notice = notices[value]
    return {"api_declared": notice is None, "notice": notice}
