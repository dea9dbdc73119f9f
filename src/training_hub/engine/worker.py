"""Entry point of one torchrun process: ``python -m training_hub.engine.worker PARAMS_JSON``.

Options: ``--params-class module:Class`` (default ``training_hub.training_params:
TrainingParams``) and ``--adapter module:factory`` where ``factory(params)``
returns the :class:`~training_hub.engine.adapter.ModelAdapter`. Rank 0 writes
its exit code to ``$TRAINING_HUB_EXIT_FILE`` so that the launcher can report
it (torchrun itself only says that a worker failed).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .._errors import TrainingHubError, UserError

__all__ = ["EXIT_FILE_ENV", "load_object", "main"]

EXIT_FILE_ENV = "TRAINING_HUB_EXIT_FILE"
DEFAULT_PARAMS_CLASS = "training_hub.training_params:TrainingParams"


def load_object(spec: str) -> Any:
    """Import ``module:attribute``."""
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _record_exit(code: int) -> int:
    path = os.environ.get(EXIT_FILE_ENV)
    if path and os.environ.get("RANK", "0") == "0":
        Path(path).write_text(str(code), encoding="utf-8")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training_hub.engine.worker")
    parser.add_argument("params_file")
    parser.add_argument("--params-class", default=DEFAULT_PARAMS_CLASS)
    parser.add_argument("--adapter", default=None)
    args = parser.parse_args(argv)

    from .._params import validate_params
    from .recipe import train

    schema = load_object(args.params_class)
    values = json.loads(Path(args.params_file).read_text(encoding="utf-8"))
    try:
        params = validate_params(schema, values, where=f"parameters in {args.params_file}")
        adapter = load_object(args.adapter)(params) if args.adapter else None
        train(params, adapter)
    except TrainingHubError as exc:
        if os.environ.get("RANK", "0") == "0" or not isinstance(exc, UserError):
            print(f"error: {exc}", file=sys.stderr)
        return _record_exit(int(getattr(exc, "exit_code", 1)))
    return _record_exit(0)


if __name__ == "__main__":
    sys.exit(main())
