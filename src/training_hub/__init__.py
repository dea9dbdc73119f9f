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
    from ._estimate import estimate
    from ._factory import create_algorithm, train
    from ._plot_loss import plot_loss
    from ._plugins import ENTRY_POINT_GROUP, PLUGIN_API_VERSION
    from ._signatures import (
        dpo,
        embedding_sft,
        gepa,
        grpo,
        lora,
        lora_grpo,
        lora_sft,
        osft,
        sft,
    )
    from .callbacks import (
        EarlyStopping,
        TrainingHubCallback,
        TrainingHubContext,
        TrainingHubControl,
    )
    from .hookspecs import hookimpl
    from .registry import Registry
    from .rewards import binary_reward, tool_call_reward

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
    "EarlyStopping",
    "ParameterError",
    "PluginError",
    "Registry",
    "TrainingError",
    "TrainingHubCallback",
    "TrainingHubContext",
    "TrainingHubControl",
    "TrainingHubError",
    "UserError",
    "__version__",
    "binary_reward",
    "create_algorithm",
    "dpo",
    "embedding_sft",
    "estimate",
    "gepa",
    "grpo",
    "hookimpl",
    "lora",
    "lora_grpo",
    "lora_sft",
    "osft",
    "plot_loss",
    "register_plugin",
    "sft",
    "tool_call_reward",
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
    **{name: "._factory" for name in ("create_algorithm", "train")},
    **{name: ".callbacks" for name in
       ("EarlyStopping", "TrainingHubCallback", "TrainingHubContext", "TrainingHubControl")},
    **{name: ".rewards" for name in ("binary_reward", "tool_call_reward")},
    "estimate": "._estimate",
    **{name: "._errors" for name in _ERRORS},
}


#: The training functions, built from their algorithm's schema on first access (_public).
_ALGORITHM_FUNCTIONS = frozenset(
    "dpo embedding_sft gepa grpo lora lora_grpo lora_sft osft sft".split()
)


def __getattr__(name: str) -> Any:
    if name in _ALGORITHM_FUNCTIONS:
        from ._public import algorithm_function

        function = algorithm_function(name)
        globals()[name] = function
        return function
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
