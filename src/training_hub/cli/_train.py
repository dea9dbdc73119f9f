"""``th train``: merge config file, demo defaults and flags; validate; dry-run or train."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import typer

from .._errors import ParameterError

__all__ = ["resolve_run", "run_train"]

DEMO_OUTPUT_DIR = "th-demo-output"


def run_train(
    algorithm: str | None,
    backend: str | None,
    config: Path | None,
    extra_args: list[str],
    *,
    dry_run: bool,
    demo: bool,
) -> None:
    algorithm, backend, trainer, params = resolve_run(
        algorithm, backend, config, extra_args, demo=demo
    )
    if dry_run:
        typer.echo(f"# th train {algorithm} --backend {backend} (dry run: nothing trained)")
        typer.echo(json.dumps({"algorithm": algorithm, "backend": backend,
                               "params": params.to_dict()}, indent=2))
        if params.callbacks:
            typer.echo("# callbacks: " + ", ".join(
                f"{type(c).__module__}:{type(c).__qualname__}" for c in params.callbacks))
        describe = getattr(trainer.backend, "dry_run", None)
        if describe is not None:
            typer.echo("# data statistics")
            stats = {k: v for k, v in describe(params).items() if k != "params"}
            typer.echo(json.dumps(stats, indent=2, default=str))
        return

    result = trainer.run(params)
    _print_result(result)
    if demo:
        _demo_sample(result)


def resolve_run(
    algorithm: str | None,
    backend: str | None,
    config: Path | None,
    extra_args: list[str],
    *,
    demo: bool,
) -> tuple[str, str, Any, Any]:
    """(algorithm, backend, trainer, validated params) from a config file, the demo's
    defaults and ``--key value`` flags (flags win), checked as the backend checks them."""
    from .._algorithm_registry import AlgorithmRegistry
    from .._config_file import read_config_file
    from .._factory import choose_backend, create_algorithm
    from .._params import validate_params
    from .._peer_params import check_peer_fields
    from ._flags import parse_param_flags

    if algorithm is not None and algorithm.startswith("-"):
        # With the algorithm taken from the config file, click hands us the first flag.
        extra_args = [algorithm, *extra_args]
        algorithm = None
    values: dict[str, Any] = {}
    where = "parameters"
    if config is not None:
        parsed = read_config_file(config)
        algorithm = algorithm or parsed.algorithm
        backend = backend or parsed.backend
        values.update(parsed.params)
        where = f"parameters (config file {config} and flags)"
    if algorithm is None:
        raise ParameterError(
            "No algorithm given: use `th train ALGORITHM ...` or put `algorithm: NAME` in the "
            "config file. `th list` shows the installed algorithms."
        )
    entry = AlgorithmRegistry.algorithm_entry(algorithm)
    algorithm_class = entry.load()
    schema = algorithm_class.params_schema
    if schema is None:
        raise ParameterError(
            f"Algorithm '{algorithm}' declares no parameter schema, so `th train` cannot build "
            "its flags; use it from Python with create_algorithm()."
        )
    flags = parse_param_flags(schema, extra_args)
    if demo:
        from ..demo import demo_params

        output_dir = flags.get("ckpt_output_dir") or values.get("ckpt_output_dir") or \
            DEMO_OUTPUT_DIR
        # Re-running the demo replaces the previous demo run rather than failing.
        values = {**demo_params(str(output_dir)), "overwrite": True, **values}
    # A config key under another name of a parameter (beta1) is that parameter, so that a
    # flag overrides it; a file giving both names is left for the schema to refuse.
    aliases = schema.all_aliases()
    if not any(aliases[k] in values for k in values if k in aliases):
        values = {aliases.get(k, k): v for k, v in values.items()}
    values.update(flags)
    backend = backend or choose_backend(algorithm)
    trainer = create_algorithm(algorithm, backend)
    params = validate_params(schema, values, where=f"{where} for '{algorithm}'")
    check_peer_fields(trainer.backend, params)
    trainer.backend.check_params(params)
    return algorithm, backend, trainer, params


def _print_result(result: Any) -> None:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        data = dataclasses.asdict(result)
    elif isinstance(result, dict):
        data = result
    else:
        typer.echo(f"result: {result!r}")
        return
    typer.echo(json.dumps(data, indent=2, default=str))


def _demo_sample(result: Any) -> None:
    checkpoint = getattr(result, "last_checkpoint", None)
    if not checkpoint:
        return
    from ..demo import generate_sample

    prompt, completion = generate_sample(Path(checkpoint))
    typer.echo(f"\nThe trained demo model, asked {prompt!r}, answers: {completion!r}")
