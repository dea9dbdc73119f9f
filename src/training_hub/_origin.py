"""Where a registration came from: a plugin distribution, a plugin registered by hand, or code."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODE", "Origin"]


@dataclass(frozen=True)
class Origin:
    """The distribution (and entry point) that made a registration."""

    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None  # "sft = training_hub_sft.plugin"
    by_hand: str | None = None  # name given to register_plugin()

    @property
    def label(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version}"
        if self.by_hand:
            return f"plugin {self.by_hand!r} registered by hand"
        return "registered in code"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "distribution": self.distribution,
            "version": self.version,
            "entry_point": self.entry_point,
            "registered_by_hand": self.by_hand,
        }


#: Registrations made with AlgorithmRegistry.register_algorithm/register_backend.
CODE = Origin()
