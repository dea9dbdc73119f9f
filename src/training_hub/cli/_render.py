"""Rendering of ``th list`` and ``th info``: rich tables on a terminal, plain text in a pipe.

Piped output (``th list | grep``, logs, CI) is plain aligned text: nothing to
strip, nothing cut, and no rich import (rendering a few hundred rows with rich
took most of ``th list``'s time).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._params import ParamInfo

__all__ = ["render_info", "render_inventory"]


def _provider(origin: dict[str, Any]) -> str:
    if origin.get("distribution"):
        return f"{origin['distribution']} {origin['version']}"
    if origin.get("registered_by_hand"):
        return f"{origin['registered_by_hand']} (by hand)"
    return "code"


def _inventory_rows(data: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for algo in data["algorithms"]:
        if algo["status"] != "ok":
            rows.append((algo["name"], "", "", f"broken: {algo['error']}"))
            continue
        rows.append((algo["name"], "", _provider(algo["provided_by"]),
                     algo.get("description") or ""))
        if not algo["backends"]:
            rows.append(("", "(none)", "", "install a backend plugin"))
        for backend in algo["backends"]:
            name = backend["name"] + (" (default)" if backend["default"] else "")
            status = "ok" if backend["status"] == "ok" else f"unavailable: {backend['problem']}"
            if backend.get("requires_cuda"):
                status += " (CUDA GPUs only)"
            rows.append(("", name, _provider(backend["provided_by"]), status))
    return rows


def _notes(data: dict[str, Any]) -> list[str]:
    notes = [f"broken plugin: {b['message']}" for b in data["broken"]]
    notes += [f"conflict: {c['message']}" for c in data["conflicts"]]
    notes += [f"skipped {s['distribution']} {s['version']} ({s['entry_point']}): {s['reason']}"
              for s in data["skipped"]]
    return notes


_NO_ALGORITHMS = "No algorithms installed. Install a plugin, e.g. `pip install training-hub-sft`."


def _render_inventory_plain(data: dict[str, Any]) -> None:
    rows = _inventory_rows(data)
    out = []
    if rows:
        header = ("algorithm", "backend", "provided by", "status")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        for row in [header, *rows]:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            out.append("  ".join([*cells, row[3]]).rstrip())
    else:
        out.append(_NO_ALGORITHMS)
    out += _notes(data)
    sys.stdout.write("\n".join(out) + "\n")


def render_inventory(data: dict[str, Any]) -> None:
    if not sys.stdout.isatty():
        _render_inventory_plain(data)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    rows = _inventory_rows(data)
    if rows:
        table = Table(title="Installed algorithms and backends", title_justify="left")
        for column in ("algorithm", "backend", "provided by", "status"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)
    else:
        console.print(escape(_NO_ALGORITHMS))
    for note in _notes(data):
        console.print(escape(note), soft_wrap=True)


def _info_header(algorithm: str, entry: Any, backends: list[str],
                 backend: str | None) -> list[str]:
    lines = [f"{algorithm} ({entry.target_name}, {entry.origin.label})"]
    if entry.description:
        lines.append(entry.description)
    lines.append(f"backends: {', '.join(backends) or '(none installed)'}"
                 + (f"; default: {entry.default_backend}" if entry.default_backend else ""))
    if backend:
        lines.append(f"showing parameters for backend: {backend}")
    return lines


def _info_groups(cls: type, params: list[ParamInfo]) -> list[tuple[str, list[ParamInfo]]]:
    advanced: frozenset[str] = getattr(getattr(cls, "params_schema", None), "advanced",
                                       frozenset())
    return [("", [p for p in params if p.name not in advanced]),
            ("advanced", [p for p in params if p.name in advanced])]


def _flag(p: ParamInfo) -> str:
    """``--adam-beta1`` and its other names: ``--adam-beta1 (--beta1)``."""
    flag = "--" + p.name.replace("_", "-")
    if p.aliases:
        flag += " (" + ", ".join("--" + a.replace("_", "-") for a in p.aliases) + ")"
    return flag


def _help(p: ParamInfo) -> str:
    """The help text; a parameter that names a component also lists the installed names."""
    if p.type is str and p.choices:
        return f"{p.help} Installed: {', '.join(str(c) for c in p.choices)}."
    return p.help


def _render_info_plain(header: list[str], groups: list[tuple[str, list[ParamInfo]]]) -> None:
    """Aligned columns, help never cut: for pipes, pagers and files."""
    rows = [("flag", "type", "default", "help")]
    for group, params in groups:
        if group and params:
            rows.append(("", "", "", ""))
            rows.append((f"{group}:", "", "", ""))
        rows += [(_flag(p), p.type_name, "required" if p.required else repr(p.default),
                  _help(p)) for p in params]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    out = [*header, ""]
    for row in rows:
        out.append("  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]).rstrip())
    sys.stdout.write("\n".join(out) + "\n")


def render_info(
    algorithm: str, entry: Any, backends: list[str], backend: str | None, cls: type,
    params: list[ParamInfo],
) -> None:
    header = _info_header(algorithm, entry, backends, backend)
    if not params:
        header.append("This algorithm declares no parameter schema.")
    if not sys.stdout.isatty():
        if params:
            _render_info_plain(header, _info_groups(cls, params))
        else:
            sys.stdout.write("\n".join(header) + "\n")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{escape(header[0])}[/bold]")
    for line in header[1:]:
        console.print(escape(line))
    if not params:
        return
    table = Table(show_lines=False)
    for column in ("flag", "type", "default", "help"):
        table.add_column(column, overflow="fold")
    for group, rows in _info_groups(cls, params):
        if group and rows:
            table.add_section()
        for p in rows:
            default = "[bold red]required[/bold red]" if p.required else escape(repr(p.default))
            table.add_row(_flag(p), escape(p.type_name), default, escape(_help(p)))
    console.print(table)
