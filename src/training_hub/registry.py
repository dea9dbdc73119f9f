"""The generic component registry: ``Registry[T]`` maps config strings to components.

One registry per component type (losses, optimizers, schedulers, data formats...).
Components are classes or ready-made instances; ``build`` instantiates them from
a name plus keyword arguments or a config validated by a pydantic schema. When a
name is missing, plugins are given a chance to register it (lazy, like catalogue)
before the lookup fails with a :class:`KeyError` that lists what is available.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

__all__ = [
    "DATA_FORMATS",
    "LOSSES",
    "OPTIMIZERS",
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

    def add(self, name: str, component: Any, *, config_cls: type[Any] | None = None) -> None:
        """Register ``component`` without decorator syntax (what plugin hooks call)."""
        if name in self._registry:
            raise ValueError(f"{name} already registered in {self.name}")
        if isinstance(component, type):
            self._registry[name] = component
        else:
            # An instance (or a plain function) is returned as is by build().
            instance = component
            self._registry[name] = lambda **kwargs: instance
        if config_cls is not None:
            self._configs[name] = config_cls

    def unregister(self, name: str) -> None:
        """Forget ``name`` (tests, notebooks). Missing names are an error."""
        self.get(name)
        del self._registry[name]
        self._configs.pop(name, None)

    def get(self, name: str) -> Callable[..., T]:
        """Get the registered class (or instance factory) by name."""
        if name not in self._registry:
            _load_plugin_components()
        if name not in self._registry:
            available = list(self._registry.keys())
            raise KeyError(
                f"Unknown {self.name}: '{name}'. "
                f"Available: {available}. "
                "Did you forget to import the module?"
            )
        return self._registry[name]

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
        """List all registered names."""
        if not self._registry:
            _load_plugin_components()
        return list(self._registry.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._registry

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {list(self._registry)})"


def _as_dict(config: Any) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "model_dump"):
        return dict(config.model_dump())
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    raise TypeError(f"config must be a mapping or a model, got {type(config).__name__}")


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


#: Loss functions: ``LOSSES.build("cross_entropy")``.
LOSSES: Registry[Any] = _shared("losses")
#: Optimizer factories: called with the parameters to optimize and keyword options.
OPTIMIZERS: Registry[Any] = _shared("optimizers")
#: Learning-rate schedules.
SCHEDULERS: Registry[Any] = _shared("schedulers")
#: Training data record formats (chat, document, tokenized...).
DATA_FORMATS: Registry[Any] = _shared("data_formats")
