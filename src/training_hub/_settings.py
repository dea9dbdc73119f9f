"""Plugin loading settings read from the environment, as pytest and llm do.

- ``TRAINING_HUB_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry point at all.
- ``TRAINING_HUB_PLUGINS=a,b``: allow-list; load only these.
- ``TRAINING_HUB_BLOCK_PLUGINS=a,b``: block-list; never load these.

An item names a distribution (``training-hub-trl``) or one of its entry points
(``training-hub-trl:dpo``). Names compare after PEP 503 normalisation.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = [
    "ENV_ALLOW",
    "ENV_BLOCK",
    "ENV_DISABLE_AUTOLOAD",
    "PluginSettings",
    "normalize_name",
]

ENV_DISABLE_AUTOLOAD = "TRAINING_HUB_DISABLE_PLUGIN_AUTOLOAD"
ENV_ALLOW = "TRAINING_HUB_PLUGINS"
ENV_BLOCK = "TRAINING_HUB_BLOCK_PLUGINS"


def normalize_name(name: str) -> str:
    """PEP 503 normalisation: ``Training_Hub.SFT`` -> ``training-hub-sft``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _items(value: str | None) -> frozenset[str] | None:
    if value is None or not value.strip():
        return None
    return frozenset(_normalize_item(v) for v in value.split(",") if v.strip())


def _normalize_item(item: str) -> str:
    dist, _, entry_point = item.strip().partition(":")
    return normalize_name(dist) + (f":{entry_point.strip()}" if entry_point else "")


@dataclass(frozen=True)
class PluginSettings:
    autoload: bool
    allow: frozenset[str] | None
    block: frozenset[str]

    @classmethod
    def from_env(cls) -> PluginSettings:
        disabled = os.environ.get(ENV_DISABLE_AUTOLOAD, "").strip().lower()
        return cls(
            autoload=disabled in ("", "0", "false", "no"),
            allow=_items(os.environ.get(ENV_ALLOW)),
            block=_items(os.environ.get(ENV_BLOCK)) or frozenset(),
        )

    def skip_reason(self, distribution: str, entry_point_name: str) -> str | None:
        """Why this entry point is not loaded, or None when it is."""
        dist = normalize_name(distribution)
        keys = {dist, f"{dist}:{entry_point_name}"}
        if not self.autoload:
            return f"autoload disabled by {ENV_DISABLE_AUTOLOAD}"
        if keys & self.block:
            return f"blocked by {ENV_BLOCK}"
        if self.allow is not None and not keys & self.allow:
            return f"not in {ENV_ALLOW}"
        return None
