"""The ``th`` command line: ``th list``, ``th info``, ``th train``, ``th estimate``,
``th doctor``, ``th plot``.

Every user error is one paragraph on stderr and exit code 2; a failed training
exits with 1; no traceback unless ``--debug`` (or ``TRAINING_HUB_DEBUG=1``).
``th list`` and ``th list --json`` are served without importing typer (see
``_list``); every other command line goes to the typer app.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``th`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    from .._conflict import warn_if_installed_here

    # Also here: PyPI's 'training-hub' may have replaced training_hub/__init__.py itself.
    warn_if_installed_here(os.path.dirname(os.path.dirname(__file__)))
    debug = "--debug" in args or os.environ.get("TRAINING_HUB_DEBUG", "") not in ("", "0")
    if "--debug" in args:
        args.remove("--debug")
    from ._list import run_fast

    code = run_fast(args, debug=debug)
    if code is None:
        from ._errors import run_reporting_errors

        code = run_reporting_errors(args, debug=debug)
    if argv is None:
        sys.exit(code)
    return code
