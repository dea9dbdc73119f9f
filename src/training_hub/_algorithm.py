"""The two base classes plugins implement: :class:`Algorithm` and :class:`Backend`.

An algorithm says *what* is trained and with which parameters (its schema); a
backend says *how* (the native engine, TRL, instructlab-training...). An
algorithm with a ``params_schema`` gets ``train``, ``get_required_params`` and
``get_optional_params`` for free; one without overrides them, as in the
registry API examples.

``Algorithm.train`` validates the parameters once and hands the backend the
validated schema instance and the run's callbacks: ``backend.run(params,
callbacks)``. A backend written against the registry API implements only
``execute_training(dict)``; the default :meth:`Backend.run` calls it between
the ``on_train_begin`` and ``on_train_end`` events.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ._params import Params

__all__ = ["Algorithm", "Backend"]

#: The events the default :meth:`Backend.run` delivers around ``execute_training``.
_RUN_EVENTS = frozenset({"on_train_begin", "on_train_end"})


class Backend(ABC):  # noqa: B024 - implement run() or execute_training()
    """Runs the training of one algorithm with one library or engine.

    Implement :meth:`run` (new backends: it receives the validated parameters and the
    callbacks, fires their events and honours their control flags) or, as the registry
    API documents, :meth:`execute_training` (a plain dict, no events but train begin/end).
    """

    #: Requirements (PEP 508) this backend needs at run time, checked without importing.
    requires: ClassVar[tuple[str, ...]] = ()
    #: True when the backend trains on CUDA GPUs only: ``th list`` shows it and
    #: ``th doctor`` reports it on a machine without one (its ``check_params`` should
    #: refuse there too, e.g. with :func:`training_hub.backend_limits.require_cuda`).
    requires_cuda: ClassVar[bool] = False
    #: The callback events this backend fires. ``Algorithm.train`` refuses, before
    #: training, a user callback that implements an event outside this set (it would
    #: never be called). A backend whose ``run`` fires every event sets
    #: ``training_hub.callbacks.EVENTS``.
    callback_events: ClassVar[frozenset[str]] = _RUN_EVENTS
    #: The parameter schema ``execute_training`` rebuilds its dict with, for backends
    #: that implement ``run`` (so both entry points work); None for the others.
    params_schema: ClassVar[type[Params] | None] = None
    #: Names this backend was created under (set by ``create_algorithm``); the
    #: callbacks' context reports them.
    algorithm_name: str = ""
    backend_name: str = ""

    def run(self, params: Params, callbacks: Sequence[Any]) -> Any:
        """Train with the validated ``params``, firing events on ``callbacks``; return
        the result object.

        The default fires ``on_train_begin``, calls :meth:`execute_training` with
        ``params.to_dict()`` and fires ``on_train_end`` with the result: the events a
        backend written against the registry API can deliver.
        """
        from .callbacks import CallbackRunner, check_deliverable, context_for_run

        if type(self).execute_training is Backend.execute_training:
            raise NotImplementedError(
                f"{type(self).__name__} implements neither run(params, callbacks) nor "
                "execute_training(algorithm_params): implement one of them."
            )
        check_deliverable(callbacks, self.callback_events, self.label)
        runner = CallbackRunner(callbacks)
        context = context_for_run(params, algorithm=self.algorithm_name,
                                  backend=self.backend_name)
        runner.fire("on_train_begin", context)
        result = self.execute_training(params.to_dict())
        context.result = result
        runner.fire("on_train_end", context)
        return result

    def execute_training(self, algorithm_params: dict[str, Any]) -> Any:
        """Train with the parameters as a plain dict; return the result object.

        The registry API's entry point. For a backend that implements :meth:`run`,
        the default validates the dict with ``params_schema`` and runs it with the
        installed plugins' callback bridge (so plugins observe this run too).
        """
        if type(self).run is Backend.run or self.params_schema is None:
            raise NotImplementedError(
                f"{type(self).__name__}.execute_training is not implemented: implement it, "
                "or implement run(params, callbacks) and set params_schema."
            )
        from ._params import validate_params
        from ._plugin_events import plugin_bridge

        schema = self.params_schema
        # A dict of every parameter (``to_dict()``) marks as set only what differs from
        # the defaults, so that checks of explicitly set parameters see the user's choices.
        given = {
            name: value for name, value in algorithm_params.items()
            if name not in schema.model_fields or schema.model_fields[name].is_required()
            or value != schema.model_fields[name].get_default(call_default_factory=True)
        }
        params = validate_params(schema, given, where=f"parameters for {type(self).__name__}")
        self.check_params(params)
        return self.run(params, [*params.callbacks, plugin_bridge()])

    def check_params(self, params: Params) -> None:  # noqa: B027 - optional hook
        """Raise :class:`~training_hub.ParameterError` for a parameter this backend
        cannot honour. The default accepts every parameter of the schema."""

    @property
    def label(self) -> str:
        """``algorithm/backend`` for messages (the class name when created by hand)."""
        if self.algorithm_name and self.backend_name:
            return f"backend '{self.backend_name}' of '{self.algorithm_name}'"
        return f"backend {type(self).__name__}"


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
        """Validate the parameters given here and at construction, then train.

        The run's callbacks are the ``callbacks`` parameter (instances, classes or
        ``"pkg.mod:Class"`` strings, resolved by the schema) followed by the bridge
        that calls the installed plugins' event hooks.
        """
        return self.run(self.validate_params({**self.kwargs, **kwargs}))

    def run(self, params: Params) -> Any:
        """Train with parameters already validated by this algorithm's schema (what
        ``th train`` calls after its dry-run checks)."""
        from ._peer_params import check_peer_fields
        from ._plugin_events import plugin_bridge
        from .callbacks import check_deliverable

        callbacks = [*params.callbacks, plugin_bridge()]
        check_deliverable(callbacks, self.backend.callback_events, self.backend.label)
        check_peer_fields(self.backend, params)
        self.backend.check_params(params)
        return self.backend.run(params, callbacks)

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
