"""Run a command and turn exceptions into one readable paragraph and an exit code."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable

__all__ = ["call_reporting_errors", "run_reporting_errors"]


def _configure_logging(debug: bool) -> None:
    logger = logging.getLogger("training_hub")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.INFO)


def _discard_stdout() -> None:
    """Point stdout at os.devnull, so that the interpreter's last flush of a closed pipe
    prints no second error (the recipe of Python's signal documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (captured in tests): nothing is flushed at exit


def call_reporting_errors(command: Callable[[], object], *, debug: bool) -> int:
    """Run ``command``; a returned int is the exit code, an exception becomes one
    paragraph on stderr (a traceback only with ``debug``) and its exit code."""
    from .._errors import TrainingHubError

    _configure_logging(debug)
    try:
        result = command()
    except BrokenPipeError:
        # The reader went away (`th list | head`): exit 1 without a message, as click does.
        _discard_stdout()
        return 1
    except TrainingHubError as exc:
        if debug:
            traceback.print_exc()
        code = int(getattr(exc, "exit_code", 1))
        label = "error" if code == 2 else "training failed"
        print(f"th: {label}: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:  # Ctrl-C: the shell shows ^C; exit 130 silently, as typer does
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        else:
            print(
                f"th: unexpected error: {type(exc).__name__}: {exc}\n"
                "Run again with --debug for the traceback, and report it if it looks like a bug.",
                file=sys.stderr,
            )
        return 1
    return int(result) if isinstance(result, int) else 0


def run_reporting_errors(args: list[str], *, debug: bool) -> int:
    """Run the typer app on ``args`` (click's own errors exit with 2)."""
    import click
    import typer

    from ._app import app

    usage_errors: tuple[type[Exception], ...] = (click.ClickException,)
    try:  # recent typer runs its own copy of click, with its own exception classes
        from typer._click.exceptions import ClickException as TyperClickException
    except ImportError:
        pass
    else:
        usage_errors += (TyperClickException,)

    def command() -> object:
        try:
            return app(args=args, prog_name="th", standalone_mode=False)
        except (click.exceptions.Abort, typer.Abort):
            print("Aborted.", file=sys.stderr)
            return 130
        except (click.exceptions.Exit, typer.Exit) as exc:
            return int(exc.exit_code)
        except usage_errors as exc:
            exc.show()  # type: ignore[attr-defined]  # click's usage message, exit code 2
            return 2

    return call_reporting_errors(command, debug=debug)
