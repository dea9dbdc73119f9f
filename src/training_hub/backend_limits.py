"""What a wrapped library cannot do, written as data: a helper for backend plugins.

A :class:`Limit` names one parameter, the values the library honours and what
the library does instead. :func:`unhonoured` lists every parameter that was
*set* (explicitly, or to a non-default value) to a value the library cannot
honour. A parameter left at a default the library cannot honour follows the
library's own behaviour; the README lists each such difference.

For a library that runs its own training loop in worker processes it launches
(instructlab-training, mini-trainer), the rest is the same on every such backend:
:func:`out_of_loop_limits` (evaluation and remote storage, which run around
training-hub's own loop), the tracker parameters the library logs with itself
(:data:`TRACKER_FIELDS`, :func:`tracker_fields`, :func:`check_tracker_fields`),
:func:`refuse_unhonoured` before training, and :func:`run_library`, which fires
the two events such a backend can deliver with the built-in trackers off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ._params import Params

if TYPE_CHECKING:
    from ._algorithm import Backend

__all__ = [
    "TRACKER_FIELDS",
    "Limit",
    "check_tracker_fields",
    "explicit_params",
    "one_of",
    "out_of_loop_limits",
    "rebuild_params",
    "refuse_unhonoured",
    "require_cuda",
    "run_library",
    "tracker_fields",
    "trackers_off",
    "unhonoured",
]

_Result = TypeVar("_Result")


@dataclass(frozen=True)
class Limit:
    """Parameter ``field`` is honoured only when ``honoured(value)`` is true."""

    field: str
    honoured: Callable[[Any], bool]
    library_does: str
    fix: str


def explicit_params(params: Params) -> set[str]:
    """Names given by the user, plus any whose value differs from the schema default."""
    names = set(params.model_fields_set)
    for name, field in type(params).model_fields.items():
        if field.is_required() or getattr(params, name) != field.get_default(
            call_default_factory=True
        ):
            names.add(name)
    return names


def unhonoured(params: Params, limits: Iterable[Limit], backend: str) -> list[str]:
    """One message per explicitly set parameter the library cannot honour."""
    explicit = explicit_params(params)
    problems = []
    for limit in limits:
        value = getattr(params, limit.field)
        if limit.field in explicit and not limit.honoured(value):
            problems.append(
                f"{limit.field}={value!r}: {limit.library_does}; {limit.fix}"
                f" (or choose another backend than '{backend}')"
            )
    return problems


def rebuild_params(schema: type[Params], values: Mapping[str, Any]) -> Params:
    """The schema instance for a plain dict, with only non-default values marked as set.

    ``execute_training`` receives a dict (defaults included); rebuilding it this
    way lets the same :func:`unhonoured` check run without treating every
    default as a user choice.
    """
    given = {}
    for name, value in values.items():
        field = schema.model_fields.get(name)
        if field is None or field.is_required():
            given[name] = value
        elif value != field.get_default(call_default_factory=True):
            given[name] = value
    return schema(**given)


def one_of(*choices: Any) -> Callable[[Any], bool]:
    """A predicate true for the given values only."""
    return lambda value: value in choices


def require_cuda(backend: str, algorithm: str) -> bool:
    """For backends whose library trains on CUDA only: True when the GPU supports bf16;
    a :class:`~training_hub.BackendUnavailableError` naming the way out without CUDA."""
    import torch

    from ._errors import BackendUnavailableError

    if not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"Backend '{backend}' needs a CUDA GPU and this machine has none "
            "(torch.cuda.is_available() is False). Train on a GPU machine, or use the native "
            f"backend: `th train {algorithm} --backend native ...` trains on CPU."
        )
    return bool(torch.cuda.is_bf16_supported())


def out_of_loop_limits(library: str) -> tuple[Limit, ...]:
    """Evaluation and remote checkpoint storage, which training-hub runs around its own
    training loop: a library whose loop runs in worker processes of its own honours
    neither. ``library`` names it in the messages."""
    native = "use the native backend"
    no_val_loss = f"{library} computes no validation loss while it trains"
    return (
        Limit("validation_split", one_of(0.0), no_val_loss,
              f"remove validation_split, or {native}"),
        Limit("eval_data_path", one_of(None), no_val_loss, f"remove eval_data_path, or {native}"),
        Limit("validation_frequency", one_of(None), f"{library} does not evaluate during "
              "training", f"remove validation_frequency, or {native}"),
        Limit("save_best_metric", one_of(None), f"{library} keeps no best checkpoint (it has "
              "no validation loss)", f"remove save_best_metric, or {native}"),
        Limit("checkpoint_storage", one_of(None), f"{library} writes its checkpoints in its "
              "own processes, which training-hub cannot mirror to a storage while it trains",
              f"copy <ckpt_output_dir>/hf_format yourself after the run, or {native}"),
    )


#: The tracker parameters (training_hub 0.11.2's names) a library that logs to the trackers
#: itself takes as fields of its own config, under the same names.
TRACKER_FIELDS = (
    "tensorboard_log_dir", "mlflow_tracking_uri", "mlflow_experiment_name", "mlflow_run_name",
    "wandb_project", "wandb_entity", "wandb_run_name",
)
_TRACKERS_OFF: Mapping[str, Any] = {"tensorboard": False, **dict.fromkeys(TRACKER_FIELDS)}


def tracker_fields(params: Any) -> dict[str, Any]:
    """The tracker parameters the run sets, for the library's config."""
    return {name: getattr(params, name) for name in TRACKER_FIELDS
            if getattr(params, name) is not None}


def check_tracker_fields(params: Any, library_fields: Iterable[str], *, backend: str,
                         distribution: str, config: str = "TrainingArgs") -> None:
    """A ParameterError naming each tracker parameter the installed library's ``config``
    (its fields: ``library_fields``) cannot take; ``distribution`` is what to upgrade."""
    from ._errors import ParameterError

    missing = sorted(set(tracker_fields(params)) - set(library_fields))
    if missing:
        raise ParameterError(
            f"Backend '{backend}' cannot honour {', '.join(missing)}: the installed "
            f"{backend}'s {config} has no such field. Upgrade {distribution}, remove them, "
            "or use the native backend (training-hub's own trackers)."
        )


def trackers_off(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as a run's callbacks see them, with the built-in trackers' switches
    off (``tensorboard``, ``mlflow_*``, ``wandb_*``): the library logs itself."""
    return {**params, **_TRACKERS_OFF}


def refuse_unhonoured(problems: Sequence[str], *, backend: str, algorithm: str) -> None:
    """One ParameterError listing every parameter the library cannot honour (``problems``,
    from :func:`unhonoured` and the backend's own checks); nothing when there are none."""
    from ._errors import ParameterError

    if problems:
        raise ParameterError(
            f"Backend '{backend}' cannot honour these {algorithm} parameters: "
            + "; ".join(problems) + "."
        )


def run_library(backend: Backend, params: Params, callbacks: Sequence[Any],
                train: Callable[[], _Result]) -> _Result:
    """``train()`` (the library's run) between ``on_train_begin`` and ``on_train_end``
    (with the result), fired in the launching process: the events a backend can deliver
    when the library's loop runs in worker processes that take no callbacks. The context's
    parameters have the built-in trackers off (:func:`trackers_off`)."""
    from .callbacks import CallbackRunner, context_for_run

    runner = CallbackRunner(callbacks)
    context = context_for_run(params, algorithm=backend.algorithm_name,
                              backend=backend.backend_name)
    context.params = trackers_off(context.params)
    runner.fire("on_train_begin", context)
    result = train()
    context.result = result
    runner.fire("on_train_end", context)
    return result
