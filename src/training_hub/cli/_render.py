"""Rich rendering of ``th list`` and ``th info``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from .._params import ParamInfo

__all__ = ["render_info", "render_inventory"]


def _provider(origin: dict[str, Any]) -> str:
    if origin.get("distribution"):
        return f"{origin['distribution']} {origin['version']}"
    if origin.get("registered_by_hand"):
        return f"{origin['registered_by_hand']} (by hand)"
    return "code"


def render_inventory(data: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="Installed algorithms and backends", title_justify="left")
    for column in ("algorithm", "backend", "provided by", "status"):
        table.add_column(column, overflow="fold")
    for algo in data["algorithms"]:
        if algo["status"] != "ok":
            table.add_row(algo["name"], "", "", f"[red]broken[/red]: {algo['error']}")
            continue
        table.add_row(f"[bold]{algo['name']}[/bold]", "", _provider(algo["provided_by"]),
                      algo.get("description") or "")
        if not algo["backends"]:
            table.add_row("", "[yellow](none)[/yellow]", "", "install a backend plugin")
        for backend in algo["backends"]:
            name = backend["name"] + (" (default)" if backend["default"] else "")
            status = "[green]ok[/green]" if backend["status"] == "ok" else \
                f"[yellow]unavailable[/yellow]: {backend['problem']}"
            table.add_row("", name, _provider(backend["provided_by"]), status)
    if data["algorithms"]:
        console.print(table)
    else:
        console.print("No algorithms installed. Install a plugin, e.g. "
                      "`pip install training-hub-sft`.")
    for broken in data["broken"]:
        console.print(f"[red]broken plugin[/red]: {broken['message']}", soft_wrap=True)
    for conflict in data["conflicts"]:
        console.print(f"[yellow]conflict[/yellow]: {conflict['message']}", soft_wrap=True)
    for skipped in data["skipped"]:
        console.print(
            f"[dim]skipped {skipped['distribution']} {skipped['version']} "
            f"({skipped['entry_point']}): {skipped['reason']}[/dim]", soft_wrap=True
        )


def render_info(
    algorithm: str, entry: Any, backends: list[str], backend: str | None, cls: type,
    params: list[ParamInfo],
) -> None:
    console = Console()
    console.print(f"[bold]{algorithm}[/bold] ({entry.target_name}, {entry.origin.label})")
    if entry.description:
        console.print(entry.description)
    console.print(f"backends: {', '.join(backends) or '(none installed)'}"
                  + (f"; default: {entry.default_backend}" if entry.default_backend else ""))
    if backend:
        console.print(f"showing parameters for backend: {backend}")
    if not params:
        console.print("This algorithm declares no parameter schema.")
        return
    advanced: frozenset[str] = getattr(getattr(cls, "params_schema", None), "advanced",
                                       frozenset())
    table = Table(show_lines=False)
    for column in ("flag", "type", "default", "help"):
        table.add_column(column, overflow="fold")
    for group, rows in (("", [p for p in params if p.name not in advanced]),
                        ("advanced", [p for p in params if p.name in advanced])):
        if group and rows:
            table.add_section()
        for p in rows:
            flag = "--" + p.name.replace("_", "-")
            default = "[bold red]required[/bold red]" if p.required else repr(p.default)
            table.add_row(flag, p.type_name, default, p.help)
    console.print(table)
