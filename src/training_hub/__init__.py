"""training-hub: fine-tune language models with algorithms and backends that are plugins.

``import training_hub`` is light: names are imported on first access, and
neither torch nor any plugin is imported until a lookup needs it. Plugins are
found through the ``training_hub.algorithms`` entry-point group.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._conflict import warn_if_installed_here as _warn_if_installed_here
from ._version import __version__

# PyPI's unrelated 'training-hub' overwrites this package's files (see _conflict).
_warn_if_installed_here(__path__[0])

if TYPE_CHECKING:
    from ._algorithm import Algorithm, Backend
    from ._algorithm_registry import AlgorithmRegistry
    from ._errors import (
        AlgorithmNotFoundError,
        BackendNotFoundError,
        BackendUnavailableError,
        ConfigError,
        DataError,
        ParameterError,
        PluginError,
        TrainingError,
        TrainingHubError,
        UserError,
    )
    from ._factory import create_algorithm, dpo, lora, osft, sft, train
    from ._plugins import ENTRY_POINT_GROUP, PLUGIN_API_VERSION
    from ._plot_loss import plot_loss
    from .hookspecs import hookimpl
    from .registry import Registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLUGIN_API_VERSION",
    "Algorithm",
    "AlgorithmNotFoundError",
    "AlgorithmRegistry",
    "Backend",
    "BackendNotFoundError",
    "BackendUnavailableError",
    "ConfigError",
    "DataError",
    "ParameterError",
    "PluginError",
    "Registry",
    "TrainingError",
    "TrainingHubError",
    "UserError",
    "__version__",
    "create_algorithm",
    "dpo",
    "hookimpl",
    "lora",
    "osft",
    "plot_loss",
    "register_plugin",
    "sft",
    "train",
]

_ERRORS = (
    "AlgorithmNotFoundError BackendNotFoundError BackendUnavailableError ConfigError DataError "
    "ParameterError PluginError TrainingError TrainingHubError UserError"
).split()
_LAZY: dict[str, str] = {
    "Algorithm": "._algorithm",
    "Backend": "._algorithm",
    "AlgorithmRegistry": "._algorithm_registry",
    "ENTRY_POINT_GROUP": "._plugins",
    "PLUGIN_API_VERSION": "._plugins",
    "Registry": ".registry",
    "hookimpl": ".hookspecs",
    "plot_loss": "._plot_loss",
    **{name: "._factory" for name in "create_algorithm dpo lora osft sft train".split()},
    **{name: "._errors" for name in _ERRORS},
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'training_hub' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin object (a module or class with ``@hookimpl`` functions) by hand.

    Its hooks run at once; returns the name it was registered under. Useful in
    tests and notebooks, where there is no installed distribution.
    """
    from ._plugins import plugin_manager

    return plugin_manager().register_plugin(plugin, name)
