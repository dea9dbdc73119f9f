"""The plugin bridge: one callback that forwards every event to the installed plugins.

Each event becomes ``pm.hook.on_<event>(context=context)``, called through
pluggy's hook caller, so ``tryfirst``, ``trylast`` and ``wrapper`` (or
``hookwrapper``) implementations behave as pluggy documents. A backend gets the
bridge from ``Algorithm.train``; a torchrun worker builds its own with
:func:`plugin_bridge` after loading the plugins. The engine never imports this
module: it only sees a callback.
"""

from __future__ import annotations

from typing import Any

import pluggy

from .callbacks import EVENTS, TrainingHubCallback, TrainingHubContext

__all__ = ["PluginBridge", "PluginHookError", "plugin_bridge"]


class PluginHookError(Exception):
    """A plugin's event hook raised; ``callback_name`` names the plugin for the report."""

    def __init__(self, plugin: str, event: str) -> None:
        super().__init__(f"plugin {plugin} raised in its {event} hook")
        self.callback_name = f"plugin {plugin}"


class PluginBridge(TrainingHubCallback):
    """Calls the plugins' event hooks; only the events some plugin implements are bound.

    The bridge runs on rank 0, like any callback that does not ``run_on_all_ranks``.
    It takes whatever events a backend fires (``best_effort``).
    """

    best_effort = True

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        for event in EVENTS:
            hook = getattr(pm.hook, event, None)
            if hook is not None and hook.get_hookimpls():
                setattr(self, event, self._forwarder(event, hook))

    def _forwarder(self, event: str, hook: Any) -> Any:
        def forward(context: TrainingHubContext) -> None:
            try:
                hook(context=context)
            except Exception as exc:
                raise PluginHookError(_raising_plugin(hook, exc), event) from exc

        forward.__name__ = event
        return forward

    def __reduce__(self) -> Any:
        raise TypeError(
            "the plugin bridge is not sent to torchrun workers: each worker builds its own "
            "(training_hub._plugin_events.plugin_bridge)"
        )


def _raising_plugin(hook: Any, exc: BaseException) -> str:
    """The name of the plugin whose implementation raised ``exc`` (from its traceback)."""
    by_code = {impl.function.__code__: impl.plugin_name for impl in hook.get_hookimpls()}
    name = "(unknown)"
    tb = exc.__traceback__
    while tb is not None:
        name = by_code.get(tb.tb_frame.f_code, name)
        tb = tb.tb_next
    return name


def plugin_bridge() -> PluginBridge:
    """The bridge for this process: every installed plugin is loaded first, so a plugin
    that implements events observes every run without an entry point per algorithm."""
    from ._plugins import plugin_manager

    loader = plugin_manager()
    loader.load_all()
    return PluginBridge(loader.pm)
