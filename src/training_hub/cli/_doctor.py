"""``th doctor``: what runs here, what would be loaded, and what is wrong."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from rich.console import Console

__all__ = ["run_doctor"]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def run_doctor() -> int:
    """Print the report; return 1 when a problem was found, else 0."""
    from .._inventory import inventory
    from .._settings import ENV_ALLOW, ENV_BLOCK, ENV_DISABLE_AUTOLOAD, PluginSettings
    from .._version import __version__

    console = Console()
    problems: list[str] = []
    console.print(f"training-hub {__version__}")
    from .._conflict import conflict_message, conflicting_distributions

    for other in conflicting_distributions():  # PyPI's unrelated 'training-hub'
        problems.append(conflict_message(other))
    console.print(f"python {platform.python_version()} ({sys.executable}) on {platform.platform()}")
    torch_version = _version("torch")
    cuda = False
    if torch_version is None:
        console.print("torch: not installed (the native engine needs it: "
                      "pip install 'training-hub-core[engine]')")
    else:
        import torch

        cuda = torch.cuda.is_available()
        devices = ", ".join(torch.cuda.get_device_name(i)
                            for i in range(torch.cuda.device_count())) if cuda else "none"
        console.print(f"torch {torch.__version__}; CUDA available: {cuda}; GPUs: {devices}; "
                      f"CPU threads: {torch.get_num_threads()}")
    for lib in ("transformers", "tokenizers", "safetensors", "peft", "trl",
                "instructlab-training", "rhai-innovation-mini-trainer", "liger-kernel",
                "tensorboard"):
        console.print(f"  {lib}: {_version(lib) or '-'}")

    settings = PluginSettings.from_env()
    console.print(f"\nplugin autoload: {'on' if settings.autoload else 'OFF'} "
                  f"({ENV_DISABLE_AUTOLOAD}); allow-list ({ENV_ALLOW}): "
                  f"{sorted(settings.allow) if settings.allow is not None else 'all'}; "
                  f"block-list ({ENV_BLOCK}): {sorted(settings.block) or 'none'}")
    from .._plugin_cache import ENV_PLUGIN_CACHE, cache_file

    where = cache_file()
    console.print(f"plugin cache of `th list`: {where or 'off'} ({ENV_PLUGIN_CACHE}=0 turns "
                  "it off); this report imports every plugin", soft_wrap=True)
    data = inventory(remember=False)
    console.print("\nplugin code that will be loaded (distribution, version, entry point):")
    for plugin in data["plugins"]:
        console.print(f"  {plugin['distribution']} {plugin['version']}: "
                      f"{plugin['entry_point']} = {plugin['module']}")
    if not data["plugins"]:
        console.print("  (none)")
    for skipped in data["skipped"]:
        console.print(f"  skipped {skipped['distribution']} {skipped['version']}: "
                      f"{skipped['reason']}")
    for broken in data["broken"]:
        problems.append(broken["message"])
    for conflict in data["conflicts"]:
        problems.append(f"conflict: {conflict['message']}")
    notes: list[str] = [
        f"{plugin['distribution']} {plugin['version']}: {plugin['notice']}"
        for plugin in data["plugins"] if plugin.get("notice")
    ]
    for algo in data["algorithms"]:
        if algo["status"] != "ok":
            problems.append(algo["error"])
            continue
        runnable = []
        reasons = []
        for backend in algo["backends"]:
            if backend["status"] != "ok":
                reasons.append(f"{backend['name']}: {backend['problem']}")
            elif backend.get("requires_cuda") and not cuda:
                reasons.append(f"{backend['name']}: trains on CUDA GPUs only, none here")
                notes.append(f"{algo['name']}/{backend['name']} trains on CUDA GPUs only; "
                             "this machine has none")
            else:
                runnable.append(backend["name"])
        if algo["backends"] and not runnable:
            problems.append(f"no backend of '{algo['name']}' can run here: "
                            + "; ".join(reasons))
    if notes:
        console.print("\nnotes:")
        for note in notes:
            console.print(f"  - {note}", soft_wrap=True)
    if problems:
        console.print("\n[red]problems found:[/red]")
        for problem in problems:
            console.print(f"  - {problem}", soft_wrap=True)
        return 1
    console.print("\n[green]no problems found[/green]")
    return 0
