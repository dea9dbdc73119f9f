"""Entry point of one torchrun process: ``python -m training_hub.engine.worker PARAMS_JSON``.

Options: ``--params-class module:Class`` (default ``training_hub.training_params:
TrainingParams``), ``--adapter module:factory`` where ``factory(params)``
returns the :class:`~training_hub.engine.adapter.ModelAdapter`, ``--callbacks
FILE`` (the run's callbacks, pickled by the launcher) and ``--algorithm`` /
``--backend`` (the names the callbacks' context reports) and ``--recipe
module:function`` (default ``training_hub.engine.recipe:train``; a plugin with a
recipe of its own, such as grpo, names it: ``function(params, adapter,
callbacks, algorithm=..., backend=...)``). Each worker loads the
installed plugins and builds its own plugin bridge. Rank 0 writes its exit code
to ``$TRAINING_HUB_EXIT_FILE`` and its result to ``$TRAINING_HUB_RESULT_FILE``
so that the launcher can report them (torchrun itself only says that a worker
failed).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from .._errors import TrainingHubError, UserError

__all__ = ["EXIT_FILE_ENV", "RESULT_FILE_ENV", "load_object", "main"]

EXIT_FILE_ENV = "TRAINING_HUB_EXIT_FILE"
RESULT_FILE_ENV = "TRAINING_HUB_RESULT_FILE"
DEFAULT_PARAMS_CLASS = "training_hub.training_params:TrainingParams"
DEFAULT_RECIPE = "training_hub.engine.recipe:train"


def load_object(spec: str) -> Any:
    """Import ``module:attribute``."""
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _is_rank_zero() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _record_exit(code: int) -> int:
    path = os.environ.get(EXIT_FILE_ENV)
    if path and _is_rank_zero():
        Path(path).write_text(str(code), encoding="utf-8")
    return code


def _record_result(result: Any) -> None:
    path = os.environ.get(RESULT_FILE_ENV)
    if path and _is_rank_zero() and dataclasses.is_dataclass(result):
        data = dataclasses.asdict(result)  # type: ignore[arg-type]
        Path(path).write_text(json.dumps(data, default=str), encoding="utf-8")


def _callbacks(callbacks_file: str | None) -> list[Any]:
    """The launcher's callbacks, then this process's plugin bridge."""
    from .._plugin_events import plugin_bridge

    callbacks: list[Any] = []
    if callbacks_file:
        callbacks = pickle.loads(Path(callbacks_file).read_bytes())
    return [*callbacks, plugin_bridge()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training_hub.engine.worker")
    parser.add_argument("params_file")
    parser.add_argument("--params-class", default=DEFAULT_PARAMS_CLASS)
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--callbacks", default=None)
    parser.add_argument("--algorithm", default="")
    parser.add_argument("--backend", default="")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE)
    args = parser.parse_args(argv)

    from .._params import validate_params

    train = load_object(args.recipe)
    schema = load_object(args.params_class)
    values = json.loads(Path(args.params_file).read_text(encoding="utf-8"))
    try:
        params = validate_params(schema, values, where=f"parameters in {args.params_file}")
        adapter = load_object(args.adapter)(params) if args.adapter else None
        result = train(params, adapter, _callbacks(args.callbacks),
                       algorithm=args.algorithm, backend=args.backend)
    except TrainingHubError as exc:
        if _is_rank_zero() or not isinstance(exc, UserError):
            print(f"error: {exc}", file=sys.stderr)
        return _record_exit(int(getattr(exc, "exit_code", 1)))
    _record_result(result)
    return _record_exit(0)


if __name__ == "__main__":
    sys.exit(main())
