"""Run the typer app and turn exceptions into one readable paragraph and an exit code."""

from __future__ import annotations

import logging
import sys
import traceback

__all__ = ["run_reporting_errors"]


def _configure_logging(debug: bool) -> None:
    logger = logging.getLogger("training_hub")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.INFO)


def run_reporting_errors(args: list[str], *, debug: bool) -> int:
    import click

    from .._errors import TrainingHubError
    from ._app import app

    _configure_logging(debug)
    try:
        result = app(args=args, prog_name="th", standalone_mode=False)
    except click.exceptions.Abort:
        print("Aborted.", file=sys.stderr)
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return 2
    except TrainingHubError as exc:
        if debug:
            traceback.print_exc()
        code = int(getattr(exc, "exit_code", 1))
        label = "error" if code == 2 else "training failed"
        print(f"th: {label}: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
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
