"""``AlgorithmRegistry``: the class-level registry of algorithms and their backends.

Two kinds of registration mix freely: those made in code
(``register_algorithm`` / ``register_backend``: the last call wins, as the API
documents) and those made by plugins (kept side by side; a deterministic rule
picks the winner and the loser is shown by ``th list``). Code beats plugins.
Plugin conflicts are decided, independent of install order, by:
a plugin registered by hand first, then the distribution that defines the
algorithm, then the distribution name in alphabetical order.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ._algorithm import Algorithm, Backend
from ._errors import (
    AlgorithmNotFoundError,
    BackendNotFoundError,
    BackendUnavailableError,
    PluginError,
)
from ._origin import CODE, Origin
from ._requirements import missing_requirements

if TYPE_CHECKING:
    from ._plugins import PluginLoader, Registration

__all__ = ["AlgorithmEntry", "AlgorithmRegistry", "BackendEntry", "Conflict"]


@dataclass
class AlgorithmEntry:
    name: str
    target: type[Algorithm] | str
    origin: Origin
    default_backend: str | None = None
    description: str | None = None

    def load(self) -> type[Algorithm]:
        cls = _resolve(self.target, Algorithm, self.origin, f"algorithm '{self.name}'")
        self.target = cls
        return cls

    @property
    def target_name(self) -> str:
        return _qualname(self.target)


@dataclass
class BackendEntry:
    algorithm: str
    name: str
    target: type[Backend] | str
    origin: Origin
    requires: tuple[str, ...] = ()
    description: str | None = None
    declared_requires_cuda: bool = False

    def load(self) -> type[Backend]:
        problem = self.problem()
        if problem:
            raise BackendUnavailableError(
                f"Backend '{self.name}' of '{self.algorithm}' ({self.origin.label}) "
                f"cannot run: {problem}"
            )
        where = f"backend '{self.name}' of '{self.algorithm}'"
        cls = _resolve(self.target, Backend, self.origin, where)
        self.target = cls
        return cls

    def all_requirements(self) -> tuple[str, ...]:
        declared = getattr(self.target, "requires", ()) if isinstance(self.target, type) else ()
        return tuple(dict.fromkeys((*self.requires, *declared)))

    @property
    def requires_cuda(self) -> bool:
        """Declared at registration, or by the loaded class's ``requires_cuda``."""
        declared = isinstance(self.target, type) and getattr(self.target, "requires_cuda", False)
        return self.declared_requires_cuda or bool(declared)

    def problem(self) -> str | None:
        """Why this backend cannot run (missing or too old library), else None."""
        missing = missing_requirements(self.all_requirements())
        if not missing:
            return None
        quoted = " ".join(f"'{r}'" for r in missing)
        return f"requires {', '.join(missing)}; fix with: pip install {quoted}"

    @property
    def target_name(self) -> str:
        return _qualname(self.target)


@dataclass
class Conflict:
    """Several plugins registered the same algorithm or backend name."""

    what: str  # "algorithm 'sft'" or "backend 'sft/native'"
    winner: Origin
    losers: list[Origin] = field(default_factory=list)

    @property
    def line(self) -> str:
        lost = ", ".join(o.label for o in self.losers)
        return f"{self.what}: {self.winner.label} wins over {lost}"


def _qualname(target: type | str) -> str:
    if isinstance(target, str):
        return target
    return f"{target.__module__}:{target.__qualname__}"


def _resolve(target: type[Any] | str, base: type, origin: Origin, what: str) -> type[Any]:
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise PluginError(
            f"Cannot import {what} from '{target}' ({origin.label}): "
            f"{type(exc).__name__}: {exc}. Reinstall or upgrade that distribution."
        ) from exc
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginError(
            f"{what} from '{target}' ({origin.label}) is not a subclass of {base.__name__}"
        )
    return obj


def _check_target(target: Any, base: type, what: str) -> None:
    if isinstance(target, str):
        if ":" not in target or not all(target.partition(":")[::2]):
            raise TypeError(f"{what}: import string must look like 'package.module:Class', "
                            f"got {target!r}")
        return
    if not (isinstance(target, type) and issubclass(target, base)):
        raise TypeError(f"{what}: expected a {base.__name__} subclass or an import string, "
                        f"got {target!r}")


def plugin_manager() -> PluginLoader:
    from ._plugins import plugin_manager as loader

    return loader()


def _rank(origin: Origin, defining: Origin | None) -> tuple[int, str]:
    if origin.by_hand:
        return (0, origin.by_hand)
    if defining is not None and origin.distribution == defining.distribution:
        return (1, "")
    return (2, (origin.distribution or "").lower())


class AlgorithmRegistry:
    """Registry for algorithms and their available backends."""

    _code_algorithms: ClassVar[dict[str, AlgorithmEntry]] = {}
    _code_backends: ClassVar[dict[str, dict[str, BackendEntry]]] = {}
    _plugin_algorithms: ClassVar[dict[str, list[AlgorithmEntry]]] = {}
    _plugin_backends: ClassVar[dict[str, dict[str, list[BackendEntry]]]] = {}

    # --- the documented API ----------------------------------------------------------
    @classmethod
    def register_algorithm(cls, name: str, algorithm_class: type[Algorithm]) -> None:
        """Register a new algorithm (a later call with the same name replaces it)."""
        _check_target(algorithm_class, Algorithm, f"register_algorithm({name!r})")
        cls._code_algorithms[name] = AlgorithmEntry(
            name, algorithm_class, CODE,
            getattr(algorithm_class, "default_backend", None),
            getattr(algorithm_class, "description", None),
        )

    @classmethod
    def register_backend(
        cls, algorithm_name: str, backend_name: str, backend_class: type[Backend]
    ) -> None:
        """Register a backend for an algorithm; an existing one of that name is overwritten."""
        if not cls._has_algorithm(algorithm_name):
            raise AlgorithmNotFoundError(
                f"Cannot register backend '{backend_name}': algorithm '{algorithm_name}' is "
                f"not registered. Available: {cls.list_algorithms()}. Register the algorithm "
                "first or install the plugin that provides it."
            )
        _check_target(backend_class, Backend, f"register_backend({algorithm_name!r}, ...)")
        cls._code_backends.setdefault(algorithm_name, {})[backend_name] = BackendEntry(
            algorithm_name, backend_name, backend_class, CODE
        )

    @classmethod
    def get_algorithm(cls, name: str) -> type[Algorithm]:
        """Get an algorithm class by name."""
        return cls.algorithm_entry(name).load()

    @classmethod
    def get_backend(cls, algorithm_name: str, backend_name: str) -> type[Backend]:
        """Get a backend class for an algorithm."""
        return cls.backend_entry(algorithm_name, backend_name).load()

    @classmethod
    def list_algorithms(cls) -> list[str]:
        """List all registered algorithms (imports no plugin)."""
        loader = plugin_manager()
        names = list(loader.advertised_names())
        seen = set(names)
        names += [n for n in sorted(cls._plugin_algorithms) if n not in seen]
        seen.update(names)
        names += [n for n in cls._code_algorithms if n not in seen]
        return names

    @classmethod
    def list_backends(cls, algorithm_name: str) -> list[str]:
        """List all backends for an algorithm; the default one comes first."""
        entries = cls.backend_entries(algorithm_name)
        return cls.ordered_backends(entries, cls.algorithm_entry(algorithm_name).default_backend)

    @staticmethod
    def ordered_backends(names: Iterable[str], default: str | None) -> list[str]:
        """Backend names in listing order: ``default`` first, the others alphabetically."""
        ordered = sorted(names)
        if default in ordered:
            ordered.remove(default)
            ordered.insert(0, default)
        return ordered

    # --- richer lookups (CLI, create_algorithm) ------------------------------------------
    @classmethod
    def algorithm_entry(cls, name: str) -> AlgorithmEntry:
        if name in cls._code_algorithms:
            return cls._code_algorithms[name]
        loader = plugin_manager()
        loader.load(name)
        candidates = cls._plugin_algorithms.get(name)
        if candidates:
            winner: AlgorithmEntry = cls._winner(candidates, None)
            return winner
        broken = loader.broken_for(name)
        if broken:
            raise PluginError(
                f"Algorithm '{name}' is unavailable because its plugin failed to load: "
                + "; ".join(b.line for b in broken)
            )
        if name in loader.advertised_names():
            dists = sorted({p.distribution for p in loader.advertised() if p.name == name})
            raise AlgorithmNotFoundError(
                f"Algorithm '{name}' is advertised by {', '.join(dists)}, which only add "
                f"backends to it; no installed distribution defines '{name}'. Install the "
                f"distribution that provides it (for first-party algorithms: "
                f"pip install training-hub-{name})."
            )
        raise AlgorithmNotFoundError(
            f"Unknown algorithm '{name}'. Available: {cls.list_algorithms()}. Install a plugin "
            "that provides it (see `th list` for what is installed)."
        )

    @classmethod
    def backend_entries(cls, algorithm_name: str) -> dict[str, BackendEntry]:
        """Every backend of an algorithm, conflicts resolved, code registrations last."""
        defining = cls.algorithm_entry(algorithm_name).origin
        entries = {
            name: cls._winner(candidates, defining)
            for name, candidates in cls._plugin_backends.get(algorithm_name, {}).items()
        }
        entries.update(cls._code_backends.get(algorithm_name, {}))
        return entries

    @classmethod
    def backend_entry(cls, algorithm_name: str, backend_name: str) -> BackendEntry:
        entries = cls.backend_entries(algorithm_name)
        if backend_name not in entries:
            raise BackendNotFoundError(
                f"Algorithm '{algorithm_name}' has no backend '{backend_name}'. Installed "
                f"backends: {sorted(entries)}. Install a plugin distribution that adds it "
                "(`th list` shows what each installed distribution provides)."
            )
        return entries[backend_name]

    @classmethod
    def conflicts(cls) -> list[Conflict]:
        found = []
        for name, candidates in sorted(cls._plugin_algorithms.items()):
            if len({c.origin for c in candidates}) > 1:
                found.append(cls._conflict(f"algorithm '{name}'", candidates, None))
        for algo, backends in sorted(cls._plugin_backends.items()):
            defining = cls._defining_origin(algo)
            for backend, backend_candidates in sorted(backends.items()):
                if len({c.origin for c in backend_candidates}) > 1:
                    found.append(cls._conflict(f"backend '{algo}/{backend}'",
                                               backend_candidates, defining))
        return found

    @classmethod
    def reset(cls) -> None:
        """Forget every registration and loaded plugin (for tests and notebooks).

        The next lookup rescans installed entry points and the plugin settings
        in the environment.
        """
        cls._code_algorithms.clear()
        cls._code_backends.clear()
        cls._plugin_algorithms.clear()
        cls._plugin_backends.clear()
        from ._plugins import reset_plugin_manager
        from ._requirements import clear_cache

        reset_plugin_manager()
        clear_cache()

    # --- internals --------------------------------------------------------------------
    @classmethod
    def _has_algorithm(cls, name: str) -> bool:
        if name in cls._code_algorithms:
            return True
        plugin_manager().load(name)
        return name in cls._plugin_algorithms

    @classmethod
    def _defining_origin(cls, algorithm_name: str) -> Origin | None:
        candidates = cls._plugin_algorithms.get(algorithm_name)
        return cls._winner(candidates, None).origin if candidates else None

    @staticmethod
    def _winner(candidates: list[Any], defining: Origin | None) -> Any:
        return min(candidates, key=lambda c: _rank(c.origin, defining))

    @classmethod
    def _conflict(cls, what: str, candidates: list[Any], defining: Origin | None) -> Conflict:
        ordered = sorted(candidates, key=lambda c: _rank(c.origin, defining))
        return Conflict(what, ordered[0].origin, [c.origin for c in ordered[1:]])

    @classmethod
    def _commit(cls, registrations: list[Registration]) -> None:
        """Store what one plugin registered (called by the plugin loader)."""
        from .registry import component_registries

        for reg in registrations:
            if reg.kind == "algorithm":
                name, target = reg.args
                _check_target(target, Algorithm, f"register({name!r}, ...)")
        for reg in registrations:
            if reg.kind == "backend":
                _check_target(reg.args[2], Backend, f"register({reg.args[0]!r}, "
                                                    f"{reg.args[1]!r}, ...)")
        registries = component_registries()
        for reg in registrations:
            if reg.kind == "component" and reg.args[0] not in registries:
                raise ValueError(
                    f"register_components: unknown registry {reg.args[0]!r}; "
                    f"known: {sorted(registries)}"
                )
        for reg in registrations:
            if reg.kind == "algorithm":
                name, target = reg.args
                cls._plugin_algorithms.setdefault(name, []).append(
                    AlgorithmEntry(
                        name, target, reg.origin,
                        reg.options.get("default_backend")
                        or getattr(target, "default_backend", None),
                        reg.options.get("description") or getattr(target, "description", None),
                    )
                )
            elif reg.kind == "backend":
                algo, backend, target = reg.args
                cls._plugin_backends.setdefault(algo, {}).setdefault(backend, []).append(
                    BackendEntry(
                        algo, backend, target, reg.origin,
                        tuple(reg.options.get("requires", ())),
                        reg.options.get("description"),
                        bool(reg.options.get("requires_cuda", False)),
                    )
                )
            else:
                registry_name, name, component = reg.args
                registry = registries[registry_name]
                if name not in registry:
                    registry.add(name, component, origin=reg.origin.label)
                elif registry.origin(name) != reg.origin.label:  # not a reload of the same
                    logging.getLogger("training_hub").warning(
                        "training-hub: %s '%s' of %s ignored: the name is taken (by %s)",
                        registry_name, name, reg.origin.label,
                        registry.origin(name) or "code",
                    )
