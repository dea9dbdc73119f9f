"""The generic component registry: ``Registry[T]`` maps config strings to components.

One registry per component type (losses, optimizers, schedulers, data formats...).
Components are classes, ready-made instances, or ``"pkg.module:attr"`` import
paths that are imported on first use (so registering, listing and validating a
name import nothing heavy). ``build`` instantiates a component from a name plus
keyword arguments or a config validated by a pydantic schema. When a name is
missing, the core's own components and then the plugins are given a chance to
register it (lazy, like catalogue) before the lookup fails with a
:class:`KeyError` that lists what is available. ``training_hub.components``
documents what each of the four engine registries holds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

__all__ = [
    "DATA_FORMATS",
    "LOSSES",
    "OPTIMIZERS",
    "REWARDS",
    "SCHEDULERS",
    "Registry",
    "component_registries",
]

T = TypeVar("T")

_ALL_REGISTRIES: dict[str, Registry[Any]] = {}


class Registry(Generic[T]):
    """Generic component registry."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._registry: dict[str, Callable[..., T]] = {}
        self._configs: dict[str, type[Any]] = {}
        self._lazy: dict[str, str] = {}  # name -> "pkg.module:attr", imported by get()
        self._origins: dict[str, str] = {}

    def register(
        self, name: str, config_cls: type[Any] | None = None
    ) -> Callable[[Any], Any]:
        """Decorator that registers a class (or an instance) under ``name``.

        ``config_cls`` (a pydantic model) validates the config given to :meth:`build`.
        Registering a name twice is an error: rename one or ``unregister`` first.
        """

        def decorator(cls_or_instance: Any) -> Any:
            self.add(name, cls_or_instance, config_cls=config_cls)
            return cls_or_instance

        return decorator

    def add(
        self,
        name: str,
        component: Any,
        *,
        config_cls: type[Any] | None = None,
        origin: str | None = None,
    ) -> None:
        """Register ``component`` without decorator syntax (what plugin hooks call).

        A string is an import path (``"pkg.module:attr"``) imported by the first
        :meth:`get`. ``origin`` says who registered it (``th info`` shows it).
        """
        if name in self._registry:
            raise ValueError(f"{name} already registered in {self.name}")
        if isinstance(component, str):
            self._lazy[name] = component
            self._registry[name] = _unresolved
        else:
            self._registry[name] = _factory(component)
        if config_cls is not None:
            self._configs[name] = config_cls
        if origin is not None:
            self._origins[name] = origin

    def unregister(self, name: str) -> None:
        """Forget ``name`` (tests, notebooks). Missing names are an error."""
        if not self.has(name):
            self.get(name)  # the KeyError listing what is available
        del self._registry[name]
        self._configs.pop(name, None)
        self._lazy.pop(name, None)
        self._origins.pop(name, None)

    def has(self, name: str) -> bool:
        """Whether ``name`` is registered, loading components like :meth:`get` but
        importing nothing that was registered by import path (for validation)."""
        if name not in self._registry:
            _load_builtin_components()
        if name not in self._registry:
            _load_plugin_components()
        return name in self._registry

    def get(self, name: str) -> Callable[..., T]:
        """Get the registered class (or instance factory) by name."""
        if not self.has(name):
            available = list(self._registry.keys())
            raise KeyError(
                f"Unknown {self.name}: '{name}'. "
                f"Available: {available}. "
                "Did you forget to import the module?"
            )
        if name in self._lazy:
            target = _import_path(self._lazy[name], f"{self.name} '{name}'")
            self._registry[name] = _factory(target)
            del self._lazy[name]
        return self._registry[name]

    def origin(self, name: str) -> str | None:
        """Who registered ``name`` (a distribution and version), when known."""
        return self._origins.get(name)

    def config_schema(self, name: str) -> type[Any] | None:
        """The pydantic model registered with ``name``, if any."""
        self.get(name)
        return self._configs.get(name)

    def build(self, name: str, /, config: Any = None, **kwargs: Any) -> T:
        """Instantiate the component ``name``.

        With a config schema, ``config`` (a dict, a pydantic model or an object with
        ``to_dict()``) or, failing that, the keyword arguments that are schema fields
        are validated and passed as ``config=``. Without a schema the call is
        ``cls(config=config, **kwargs)`` when a config is given, else ``cls(**kwargs)``.
        """
        factory = self.get(name)
        schema = self._configs.get(name)
        if schema is not None:
            if config is None:
                fields = getattr(schema, "model_fields", {})
                config = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
            validated = schema(**_as_dict(config))
            return factory(config=validated, **kwargs)
        if config is not None:
            return factory(config=config, **kwargs)
        return factory(**kwargs)

    def list(self) -> list[str]:
        """List all registered names: the core's, then every installed plugin's."""
        _load_builtin_components()
        _load_plugin_components()
        return list(self._registry.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._registry

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {list(self._registry)})"


def _unresolved(**kwargs: Any) -> Any:
    raise AssertionError("a lazy component is resolved by Registry.get before use")


def _factory(component: Any) -> Callable[..., Any]:
    if isinstance(component, type):
        return component
    # An instance (or a plain function) is returned as is by build().
    return lambda **kwargs: component


def _import_path(path: str, what: str) -> Any:
    module_name, sep, attribute = path.partition(":")
    try:
        value: Any = importlib.import_module(module_name.strip())
        for part in filter(None, attribute.strip().split(".")) if sep else ():
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise KeyError(
            f"The {what} is registered as {path!r}, which cannot be imported "
            f"({type(exc).__name__}: {exc}). Reinstall the plugin that provides it."
        ) from exc
    return value


def _as_dict(config: Any) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "model_dump"):
        return dict(config.model_dump())
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    raise TypeError(f"config must be a mapping or a model, got {type(config).__name__}")


def _load_builtin_components() -> None:
    from ._plugins import plugin_manager

    plugin_manager().load_builtin_components()


def _load_plugin_components() -> None:
    from ._plugins import plugin_manager

    plugin_manager().load_components()


def _shared(name: str) -> Registry[Any]:
    registry: Registry[Any] = Registry(name)
    _ALL_REGISTRIES[name] = registry
    return registry


def component_registries() -> dict[str, Registry[Any]]:
    """The registries that plugins fill through the ``register_components`` hook."""
    return dict(_ALL_REGISTRIES)


# What each engine registry holds, and how the engine calls it: ``training_hub.components``.
#: Loss functions (the ``loss`` parameter): ``LOSSES.build("cross_entropy")``.
LOSSES: Registry[Any] = _shared("losses")
#: Optimizer factories (``optimizer``): called with the parameters to optimize and the
#: run's parameter schema.
OPTIMIZERS: Registry[Any] = _shared("optimizers")
#: Learning-rate scheduler factories (``lr_scheduler``).
SCHEDULERS: Registry[Any] = _shared("schedulers")
#: Training data record formats (``data_format``: chat, document, tokenized...).
DATA_FORMATS: Registry[Any] = _shared("data_formats")
#: Reward functions of reinforcement learning (grpo): TRL's signature
#: ``f(prompts, completions, **columns) -> list[float | None]``, or their import strings.
REWARDS: Registry[Any] = _shared("rewards")
