"""The two base classes plugins implement: :class:`Algorithm` and :class:`Backend`.

An algorithm says *what* is trained and with which parameters (its schema); a
backend says *how* (the native engine, TRL, instructlab-training...). An
algorithm with a ``params_schema`` gets ``train``, ``get_required_params`` and
``get_optional_params`` for free; one without overrides them, as in the
registry API examples.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ._params import Params

__all__ = ["Algorithm", "Backend"]


class Backend(ABC):
    """Runs the training of one algorithm with one library or engine."""

    #: Requirements (PEP 508) this backend needs at run time, checked without importing.
    requires: ClassVar[tuple[str, ...]] = ()
    #: True when the backend trains on CUDA GPUs only: ``th list`` shows it and
    #: ``th doctor`` reports it on a machine without one (its ``check_params`` should
    #: refuse there too, e.g. with :func:`training_hub.backend_limits.require_cuda`).
    requires_cuda: ClassVar[bool] = False

    @abstractmethod
    def execute_training(self, algorithm_params: dict[str, Any]) -> Any:
        """Train with the validated parameters; return the result object."""

    def check_params(self, params: Params) -> None:  # noqa: B027 - optional hook
        """Raise :class:`~training_hub.ParameterError` for a parameter this backend
        cannot honour. The default accepts every parameter of the schema."""


class Algorithm(ABC):  # noqa: B024 - abstract by intent, schema-driven defaults
    """A training algorithm bound to a backend."""

    #: The one parameter schema: API, CLI flags, config files and docs come from it.
    params_schema: ClassVar[type[Params] | None] = None
    #: Backend used when ``create_algorithm`` is given none.
    default_backend: ClassVar[str | None] = None
    #: One line for ``th list``.
    description: ClassVar[str] = ""

    def __init__(self, backend: Backend, **kwargs: Any) -> None:
        self.backend = backend
        self.kwargs = kwargs

    def train(self, **kwargs: Any) -> Any:
        """Validate the parameters given here and at construction, then train."""
        params = self.validate_params({**self.kwargs, **kwargs})
        self.backend.check_params(params)
        return self.backend.execute_training(params.to_dict())

    def validate_params(self, values: dict[str, Any]) -> Params:
        """The schema instance for ``values``, or one :class:`ParameterError`."""
        from ._params import validate_params

        return validate_params(
            self._schema(), values, where=f"parameters for {type(self).__name__}"
        )

    def get_required_params(self) -> dict[str, Any]:
        """Parameter names without defaults, with their types."""
        from ._params import describe_params

        return {p.name: p.type for p in describe_params(self._schema()) if p.required}

    def get_optional_params(self) -> dict[str, Any]:
        """Parameter names with defaults, with their types."""
        from ._params import describe_params

        return {p.name: p.type for p in describe_params(self._schema()) if not p.required}

    @classmethod
    def _schema(cls) -> type[Params]:
        if cls.params_schema is None:
            raise NotImplementedError(
                f"{cls.__name__} has no params_schema: set one, or override train(), "
                "get_required_params() and get_optional_params()."
            )
        return cls.params_schema
