"""The typer application: one function per ``th`` command.

Each command imports what it needs when it runs, so ``th --help`` and
``th list`` never import torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .._version import __version__

__all__ = ["app"]

app = typer.Typer(
    name="th",
    help="training-hub: fine-tune language models with pluggable algorithms and backends.\n\n"
    "Global option: --debug shows tracebacks.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain click help: typer's rich help formatter alone costs ~60 ms of start-up.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _complete_algorithm(incomplete: str) -> list[str]:
    """Shell completion of algorithm names: entry-point names only, no plugin imported."""
    from .._plugins import plugin_manager

    return [n for n in plugin_manager().advertised_names() if n.startswith(incomplete)]


def _complete_backend(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of the backends of the algorithm typed before ``--backend``."""
    # While the option's value is being typed, click leaves the positional in ctx.args.
    algorithm = ctx.params.get("algorithm") or next(iter(ctx.args), None)
    if not algorithm:
        return []
    from .._algorithm_registry import AlgorithmRegistry

    try:
        names = AlgorithmRegistry.list_backends(algorithm)
    except Exception:  # completion must never print an error into the shell
        return []
    return [n for n in names if n.startswith(incomplete)]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"training-hub {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
) -> None:
    """training-hub: fine-tune language models with pluggable algorithms and backends."""


@app.command("list", short_help="Installed algorithms, backends and providers.")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (docs/cli.md)."),
) -> None:
    """Show installed algorithms, their backends and the distributions that provide them."""
    from ._list import print_inventory

    print_inventory(as_json)


@app.command("info", short_help="An algorithm's parameters and backends.")
def info_command(
    algorithm: str = typer.Argument(
        ..., help="Algorithm name, e.g. sft.", autocompletion=_complete_algorithm
    ),
    backend: str | None = typer.Option(
        None, "--backend", "-b", help="Show this backend.", autocompletion=_complete_backend
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show an algorithm's parameters (types, defaults, help) and its backends."""
    from .._algorithm_registry import AlgorithmRegistry
    from .._params import describe_params
    from ._render import render_info

    entry = AlgorithmRegistry.algorithm_entry(algorithm)
    cls = entry.load()
    backends = AlgorithmRegistry.list_backends(algorithm)
    if backend is not None:
        AlgorithmRegistry.backend_entry(algorithm, backend)
    schema = cls.params_schema
    params = describe_params(schema) if schema is not None else []
    if as_json:
        typer.echo(json.dumps({
            "algorithm": algorithm,
            "class": entry.target_name,
            "description": entry.description,
            "default_backend": entry.default_backend,
            "backends": backends,
            "params": [
                {"name": p.name, "type": p.type_name, "required": p.required,
                 "default": p.default, "help": p.help, "choices": p.choices,
                 "aliases": list(p.aliases)}
                for p in params
            ],
        }, indent=2, default=str))
        return
    render_info(algorithm, entry, backends, backend, cls, params)


@app.command(
    "train",
    short_help="Train an algorithm (flags from its parameter schema).",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def train_command(
    ctx: typer.Context,
    algorithm: str | None = typer.Argument(
        None, help="Algorithm to train (or `algorithm:` in the config file).",
        autocompletion=_complete_algorithm,
    ),
    backend: str | None = typer.Option(
        None, "--backend", "-b", help="Backend to use.", autocompletion=_complete_backend
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML/JSON file of parameters; flags override it."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate, print the resolved config and data statistics; "
        "do not train."
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Train the embedded demo model on the embedded chat data."
    ),
) -> None:
    """Train: `th train sft --model-path M --data-path D --ckpt-output-dir OUT [--key value]`.

    Every parameter of the algorithm is a flag (see `th info ALGORITHM`).
    """
    from ._train import run_train

    run_train(algorithm, backend, config, ctx.args, dry_run=dry_run, demo=demo)


@app.command(
    "estimate",
    short_help="Memory per device and, with data, training time (flags from the schema).",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def estimate_command(
    ctx: typer.Context,
    algorithm: str | None = typer.Argument(
        None, help="Algorithm (sft, osft, lora) or `algorithm:` in the config file.",
        autocompletion=_complete_algorithm,
    ),
    backend: str | None = typer.Option(
        None, "--backend", "-b", help="Backend the calibration run uses.",
        autocompletion=_complete_backend,
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML/JSON file of parameters; flags override it."
    ),
    demo: bool = typer.Option(False, "--demo", help="Estimate `th train ALGO --demo`."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    gpu_memory: float | None = typer.Option(
        None, "--gpu-memory", help="GiB per GPU to check the fit against (default: this "
        "GPU's, else 80)."
    ),
    calibration_steps: int | None = typer.Option(
        None, "--calibration-steps", help="Steps timed after the first one (default 3)."
    ),
) -> None:
    """Estimate: `th estimate sft --model-path M [--data-path D] [--key value]`.

    Memory comes from the model's config (no weights loaded); with --data-path (or --demo)
    a short calibration run on this machine predicts the training time. Every parameter
    of the algorithm is a flag, as for `th train`.
    """
    from ._estimate import run_estimate

    run_estimate(algorithm, backend, config, ctx.args, demo=demo, as_json=as_json,
                 gpu_memory_gib=gpu_memory, calibration_steps=calibration_steps)


@app.command("doctor", short_help="Check Python, torch, CUDA and plugins.")
def doctor_command() -> None:
    """Check the environment: Python, torch, CUDA, installed plugins and their problems."""
    from ._doctor import run_doctor

    code = run_doctor()
    if code:
        raise typer.Exit(code)


@app.command("new-plugin", short_help="Create a plugin distribution to start from.")
def new_plugin_command(
    name: str = typer.Argument(..., help="Distribution name, e.g. training-hub-myalgo."),
    algorithm: str | None = typer.Option(
        None, "--algorithm", "-a", help="Algorithm the plugin defines (default: from NAME)."
    ),
    directory: Path = typer.Option(Path("."), "--dir", help="Folder to create it in."),
) -> None:
    """Create a working plugin distribution (with tests) to start from."""
    from .._errors import UserError
    from ..scaffold import create_plugin

    try:
        folder = create_plugin(name, directory, algorithm)
    except (ValueError, FileExistsError) as exc:
        raise UserError(f"Cannot create plugin {name!r}: {exc}") from None
    typer.echo(f"created {folder}\nnext: pip install -e {folder} && th list && "
               f"pytest {folder / 'tests'}")


@app.command("plot", short_help="PNG of the loss curves of one or more runs.")
def plot_command(
    run_dirs: list[Path] = typer.Argument(..., help="Run folders (ckpt_output_dir); overlaid."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="PNG to write (default: loss_plot.png in the first run)."
    ),
    labels: list[str] | None = typer.Option(
        None, "--label", help="Legend label of each run, in order (repeat per run)."
    ),
    ema: bool = typer.Option(False, "--ema", help="Overlay an exponential moving average."),
    ema_span: int = typer.Option(30, "--ema-span", help="Span of the moving average."),
    metric_keys: list[str] | None = typer.Option(
        None, "--metric-key", help="Record key of the loss, tried in order (repeatable)."
    ),
    metrics_file: str | None = typer.Option(
        None, "--metrics-file", help="File to read in each run folder (default: auto)."
    ),
) -> None:
    """Plot loss (and val_loss, learning rate) against steps; the same as plot_loss()."""
    from .._plot_loss import plot_loss

    path = plot_loss(run_dirs, metrics_file=metrics_file, output_path=output,
                     labels=labels or None, ema=ema, ema_span=ema_span,
                     metric_keys=metric_keys or None)
    typer.echo(f"wrote {path}")


@app.command("push", short_help="Upload a checkpoint to the Hugging Face Hub.")
def push_command(
    checkpoint: Path = typer.Argument(..., help="Checkpoint folder (checkpoints/step-<N>)."),
    repo_id: str = typer.Argument(..., help="Model repository, e.g. my-org/my-model."),
    private: bool = typer.Option(False, "--private", help="Create the repository private."),
    revision: str | None = typer.Option(
        None, "--revision", "--branch", help="Branch to commit to (created when missing)."
    ),
    message: str | None = typer.Option(None, "--message", "-m", help="Commit message."),
) -> None:
    """Upload the model files of a checkpoint (model card included, training state left out)
    with huggingface_hub; the token comes from HF_TOKEN or `hf auth login`."""
    from ..hub import push_folder

    url = push_folder(checkpoint, repo_id, private=private, revision=revision,
                      commit_message=message, progress=typer.echo)
    typer.echo(f"pushed: {url}")
