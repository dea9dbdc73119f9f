"""Plugin loading: find entry points, import them lazily, call their hooks safely.

Entry points of the group ``training_hub.algorithms`` are *read* (metadata only,
see ``_dists``) when first needed, and *imported* only for the algorithm name a
lookup asks for. A plugin that fails to import, targets another plugin API or whose hook
raises is recorded as broken, reported once in one log line, and never stops
the others. Registrations of one plugin are committed only when all its hooks
succeeded.

Every hook is called through pluggy's hook caller. The registration hooks of a
plugin are called once, when it loads, through a manager that holds that plugin
alone (``PluginLoader.registration_pm``): ``tryfirst``, ``trylast`` and
``wrapper`` implementations behave as pluggy documents, one plugin's failure is
its own, and loading n plugins stays linear in n.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import FunctionType, MethodType, ModuleType
from typing import Any

import pluggy

from . import _dists, hookspecs
from ._origin import Origin
from ._plugin_cache import OPT_OUT_ATTRIBUTE, RegistrationCache, source_files, storable
from ._settings import PluginSettings

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLUGIN_API_VERSION",
    "Advertised",
    "BrokenPlugin",
    "PluginLoader",
    "Registration",
    "SkippedPlugin",
    "plugin_manager",
    "reset_plugin_manager",
]

logger = logging.getLogger("training_hub")

ENTRY_POINT_GROUP = "training_hub.algorithms"
#: The plugin API this core implements; plugins set ``TRAINING_HUB_PLUGIN_API`` to it.
PLUGIN_API_VERSION = 1
_SUPPORTED_PLUGIN_APIS = frozenset({1})
_REGISTRATION_HOOKS = ("register_algorithms", "register_backends", "register_components")


@dataclass(frozen=True)
class Advertised:
    """One entry point: distribution ``distribution`` contributes to algorithm ``name``."""

    name: str
    value: str
    distribution: str
    version: str

    @property
    def origin(self) -> Origin:
        return Origin(self.distribution, self.version, f"{self.name} = {self.value}")


@dataclass(frozen=True)
class BrokenPlugin:
    origin: Origin
    error: str

    @property
    def line(self) -> str:
        where = f" (entry point '{self.origin.entry_point}')" if self.origin.entry_point else ""
        return f"plugin {self.origin.label}{where} failed to load: {self.error}"


@dataclass(frozen=True)
class SkippedPlugin:
    plugin: Advertised
    reason: str


@dataclass(frozen=True)
class Registration:
    """One call of a ``register`` callback, kept until the plugin's hooks all succeed."""

    kind: str  # "algorithm" | "backend" | "component"
    args: tuple[Any, ...]
    options: dict[str, Any] = field(default_factory=dict)
    origin: Origin = field(default_factory=Origin)


Sink = Callable[[list[Registration]], None]

_ABSENT = object()
_REMEMBERED = object()  # loaded from the registration cache, not imported
#: Names a module cannot shadow (data descriptors of its type): pluggy's own lookup.
_MODULE_DESCRIPTORS = frozenset(
    name
    for klass in ModuleType.__mro__
    for name, value in vars(klass).items()
    if hasattr(type(value), "__get__")
    and (hasattr(type(value), "__set__") or hasattr(type(value), "__delete__"))
)


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, with a faster hookimpl lookup for plugin modules.

    ``parse_hookimpl_opts`` is pluggy's documented override point. For a plain
    module it reads the attribute from the module's ``__dict__``: the same
    function and options pluggy's ``inspect.getattr_static`` lookup finds there,
    without its cost (it was a third of registering a small plugin). Anything
    else goes to pluggy. The names found are kept in ``found`` (hook name ->
    count) for the registration that asked.
    """

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self._impl_attr = project_name + "_impl"
        self.found: dict[str, int] = {}

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts: Any = _ABSENT
        if type(plugin) is ModuleType and name not in _MODULE_DESCRIPTORS:
            value = plugin.__dict__.get(name, _ABSENT)
            if type(value) is FunctionType:
                marker = getattr(value, self._impl_attr, None)
                opts = marker if isinstance(marker, dict) else None
            elif value is not _ABSENT and not isinstance(
                value, (staticmethod, classmethod, MethodType)
            ):
                opts = None
        if opts is _ABSENT:
            opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None:
            hook = opts.get("specname") or name
            self.found[hook] = self.found.get(hook, 0) + 1
        return opts


class PluginLoader:
    """Owns the pluggy manager and the state of every advertised plugin."""

    def __init__(self, sink: Sink, settings: PluginSettings | None = None) -> None:
        self._sink = sink
        self.settings = settings or PluginSettings.from_env()
        self.pm = _PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        #: Holds one plugin at a time, while its registration hooks are called.
        self.registration_pm = _PluginManager(hookspecs.PROJECT_NAME)
        self.registration_pm.add_hookspecs(_RegistrationHooks)
        self._register_builtin_trackers()
        self._advertised: list[Advertised] | None = None
        self._advertised_by_name: dict[str, list[Advertised]] = {}
        self.skipped: list[SkippedPlugin] = []
        self.broken: list[BrokenPlugin] = []
        self._loaded_names: set[str] = set()
        self._loaded_values: dict[str, object] = {}
        self._broken_by_name: dict[str, list[BrokenPlugin]] = {}
        self._cache: RegistrationCache | None = None
        self._builtins_loaded = False
        #: Entry-point value -> the notice of a loaded plugin that does not declare
        #: ``TRAINING_HUB_PLUGIN_API`` (loaded as API 1); None for one that declares it.
        self.api_notices: dict[str, str | None] = {}

    # --- discovery (metadata only) -----------------------------------------------
    def advertised(self) -> list[Advertised]:
        """Entry points that will be loaded, in a deterministic order."""
        if self._advertised is None:
            found = []
            memo = self._cache.entry_points if self._cache is not None else None
            for ep in _dists.entry_points(ENTRY_POINT_GROUP, memo):
                plugin = Advertised(ep.name, ep.value, ep.distribution, ep.version)
                reason = self.settings.skip_reason(plugin.distribution, plugin.name)
                if reason:
                    self.skipped.append(SkippedPlugin(plugin, reason))
                else:
                    found.append(plugin)
            self._advertised = sorted(
                set(found), key=lambda p: (p.name, p.distribution.lower(), p.value)
            )
            for plugin in self._advertised:
                self._advertised_by_name.setdefault(plugin.name, []).append(plugin)
        return self._advertised

    def advertised_names(self) -> list[str]:
        self.advertised()
        return sorted(self._advertised_by_name)

    def broken_for(self, name: str) -> list[BrokenPlugin]:
        return self._broken_by_name.get(name, [])

    # --- loading -------------------------------------------------------------------
    def load(self, name: str) -> None:
        """Import the plugins advertised for algorithm ``name`` (once)."""
        if name in self._loaded_names:
            return
        self._loaded_names.add(name)
        self.advertised()
        for plugin in self._advertised_by_name.get(name, []):
            self._load_entry_point(plugin)

    def load_all(self, *, remember: bool = False) -> None:
        """Load every advertised plugin; with ``remember``, replay the registrations of
        unchanged plugins from the on-disk cache instead of importing them (``th list``:
        see ``_plugin_cache``) and remember the new ones."""
        if remember:
            self._cache = RegistrationCache.for_this_environment()
        try:
            for name in self.advertised_names():
                self.load(name)
        finally:
            cache, self._cache = self._cache, None
        if cache is not None:
            cache.save()

    def load_builtin_components(self) -> None:
        """Register the core's own components (``training_hub.components``, a built-in
        plugin) once, through the same registration hook as a plugin's."""
        if self._builtins_loaded:
            return
        self._builtins_loaded = True
        from . import __version__, components

        name = "training-hub-core:training_hub.components"
        self._collect_and_commit(components, name, Origin("training-hub-core", __version__))

    def _register_builtin_trackers(self) -> None:
        """metrics.jsonl, TensorBoard, MLflow and W&B (``training_hub.trackers``): built-in
        plugins of the event hooks, registered through the same door as a plugin's."""
        from .trackers import builtin_tracker_plugins

        for name, plugin in builtin_tracker_plugins():
            self.pm.register(plugin, name=name)

    def load_components(self) -> None:
        self.load_builtin_components()
        self.load_all()

    def register_plugin(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object (module, class or instance) by hand."""
        plugin_name = name or getattr(plugin, "__name__", None) or repr(plugin)
        self._collect_and_commit(plugin, plugin_name, Origin(by_hand=plugin_name))
        return plugin_name

    def _load_entry_point(self, plugin: Advertised) -> None:
        if plugin.value in self._loaded_values:
            return  # one module advertised under several names registers once
        origin = plugin.origin
        cache = self._cache
        key = cache.key(plugin.distribution, plugin.version, plugin.value) if cache else ""
        remembered = cache.recall(key) if cache else None
        if remembered is not None:
            try:
                self._sink([Registration(kind, tuple(args), options, origin)
                            for kind, args, options in remembered])
                self._loaded_values[plugin.value] = _REMEMBERED
                self._note_api(plugin.value, cache.api_notice(key) if cache else None)
                return
            except Exception:  # a damaged cache entry: the sink committed nothing
                logger.debug("training-hub: cannot replay %s from the plugin cache", key)
        try:
            known_modules = len(sys.modules)
            module = _import(plugin.value)
            notice = _check_api_version(module, plugin.value)
            collected = self._collect_and_commit(
                module, f"{plugin.distribution}:{plugin.value}", origin
            )
            self._loaded_values[plugin.value] = module
            self._note_api(plugin.value, notice)
            if cache:
                imported = list(itertools.islice(sys.modules, known_modules, None))
                self._offer_to_cache(cache, key, plugin, module, collected, imported, notice)
        except Exception as exc:  # a broken plugin must never break the others
            self._loaded_values[plugin.value] = None
            broken = BrokenPlugin(origin, f"{type(exc).__name__}: {exc}")
            self.broken.append(broken)
            for other in self.advertised():
                if other.value == plugin.value:
                    self._broken_by_name.setdefault(other.name, []).append(broken)
            logger.warning("training-hub: %s", broken.line)

    def _note_api(self, value: str, notice: str | None) -> None:
        self.api_notices[value] = notice
        if notice:
            logger.debug("training-hub: %s", notice)

    def _offer_to_cache(self, cache: RegistrationCache, key: str, plugin: Advertised,
                        module: object, collected: list[Registration],
                        imported: list[str], notice: str | None) -> None:
        """Remember a plugin's registrations when a later process can replay them exactly."""
        if getattr(module, OPT_OUT_ATTRIBUTE, True) is False:
            return
        if not set(self.pm.found) <= set(_REGISTRATION_HOOKS):
            return  # it has event hooks: it must be imported to receive them
        stored = [storable(r.kind, r.args, r.options) for r in collected]
        files = source_files(plugin.value.partition(":")[0].strip(), imported)
        if files is not None and all(s is not None for s in stored):
            cache.remember(key, files, [s for s in stored if s is not None],
                           api_notice=notice)

    def _collect_and_commit(self, plugin: object, name: str, origin: Origin) -> list[Registration]:
        """Call ``plugin``'s registration hooks, then register it for its event hooks and
        commit what it registered; on any error nothing of it stays registered."""
        collected: list[Registration] = []

        def collector(kind: str, arity: int, allowed: frozenset[str]) -> Callable[..., None]:
            def register(*args: Any, **options: Any) -> None:
                if len(args) != arity:
                    raise TypeError(
                        f"register() for {kind}s takes {arity} positional arguments, "
                        f"got {len(args)}"
                    )
                unknown = sorted(set(options) - allowed)
                if unknown:
                    raise TypeError(
                        f"register() for {kind}s got unknown keyword(s) {', '.join(unknown)}; "
                        f"it takes {', '.join(sorted(allowed)) or 'none'}"
                    )
                collected.append(Registration(kind, args, options, origin))

            return register

        callbacks = {
            "register_algorithms": collector(
                "algorithm", 2, frozenset({"default_backend", "description"})
            ),
            "register_backends": collector(
                "backend", 3, frozenset({"requires", "requires_cuda", "description"})
            ),
            "register_components": collector("component", 3, frozenset()),
        }
        registration = self.registration_pm
        registration.found = {}
        try:
            registration.register(plugin, name=name)
            for hook_name in _REGISTRATION_HOOKS:
                if registration.found.get(hook_name):
                    getattr(registration.hook, hook_name)(register=callbacks[hook_name])
        finally:
            _unregister(registration, plugin)
        self.pm.found = {}
        try:
            self.pm.register(plugin, name=name)
            self._sink(collected)
        except Exception:
            _unregister(self.pm, plugin)
            raise
        return collected


class _RegistrationHooks:
    """The registration hook specifications alone (``registration_pm``): the event hooks
    of a plugin are registered in the main manager only."""

    register_algorithms = staticmethod(hookspecs.register_algorithms)
    register_backends = staticmethod(hookspecs.register_backends)
    register_components = staticmethod(hookspecs.register_components)


def _unregister(pm: pluggy.PluginManager, plugin: object) -> None:
    """Undo ``pm.register(plugin)``, also one that failed half-way (pluggy keeps the
    implementations it added before an invalid one)."""
    if pm.is_registered(plugin):
        pm.unregister(plugin)


def _import(value: str) -> Any:
    module_name, _, attr = value.partition(":")
    module = importlib.import_module(module_name.strip())
    for part in filter(None, attr.strip().split(".")):
        module = getattr(module, part)
    return module


def _check_api_version(module: object, value: str) -> str | None:
    """None for a plugin that declares a supported API; the notice for one that declares
    none (loaded as API 1: pluggy plugins carry no such marker, and a user cannot add it
    to someone else's plugin); :class:`RuntimeError` for an unsupported one."""
    version = getattr(module, "TRAINING_HUB_PLUGIN_API", None)
    if version is None:
        return (
            f"{value} does not declare TRAINING_HUB_PLUGIN_API; loaded as plugin API 1 "
            f"(its authors can declare it: `TRAINING_HUB_PLUGIN_API = {PLUGIN_API_VERSION}`)"
        )
    if version not in _SUPPORTED_PLUGIN_APIS:
        raise RuntimeError(
            f"it targets plugin API {version!r} but this training-hub supports "
            f"{sorted(_SUPPORTED_PLUGIN_APIS)}: install a version of the plugin made for "
            "this training-hub, or upgrade training-hub"
        )
    return None


_loader: PluginLoader | None = None


def plugin_manager() -> PluginLoader:
    """The process-wide loader (created on first use, reading the environment)."""
    global _loader
    if _loader is None:
        from ._algorithm_registry import AlgorithmRegistry

        _loader = PluginLoader(AlgorithmRegistry._commit)
    return _loader


def reset_plugin_manager() -> None:
    """Forget every loaded plugin; the next lookup rescans entry points and settings."""
    global _loader
    _loader = None
    _dists.clear()


def iter_loaded_plugins() -> Iterable[tuple[str, object]]:
    return plugin_manager().pm.list_name_plugin()
