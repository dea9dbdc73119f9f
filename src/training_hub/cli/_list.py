"""``th list``: what both the typer command and the fast path of ``th`` run.

``th list`` and ``th list --json`` are the commands scripts and shells call
most, so ``training_hub.cli.main`` serves exactly those argument lists without
typer (whose option handling imports pydantic: about 100 ms before anything is
listed); every other command line goes to the typer app. Both paths print with
:func:`print_inventory`, so their output is the same byte for byte.
"""

from __future__ import annotations

import sys

__all__ = ["FAST_ARGS", "print_inventory", "run_fast"]

#: The argument lists (after ``--debug`` is removed) served without typer.
FAST_ARGS: dict[tuple[str, ...], bool] = {("list",): False, ("list", "--json"): True}


def print_inventory(as_json: bool) -> None:
    """Print the inventory: JSON (docs/cli.md) or a table (plain text when piped)."""
    from .._inventory import inventory

    data = inventory()
    if as_json:
        import json

        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()
        return
    from ._render import render_inventory

    render_inventory(data)


def run_fast(args: list[str], *, debug: bool) -> int | None:
    """Run ``args`` when it is ``list`` or ``list --json`` and return the exit code;
    None for every other command line (typer handles it)."""
    as_json = FAST_ARGS.get(tuple(args))
    if as_json is None:
        return None
    from ._errors import call_reporting_errors

    return call_reporting_errors(lambda: print_inventory(as_json), debug=debug)
