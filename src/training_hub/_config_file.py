"""Read a YAML or JSON training config file with a safe loader.

The file is a mapping of parameter names to values, optionally with
``algorithm:`` and ``backend:`` keys. Every problem names the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._errors import ConfigError

__all__ = ["TrainConfigFile", "read_config_file"]


class TrainConfigFile:
    """The parsed content of a config file."""

    def __init__(self, path: Path, algorithm: str | None, backend: str | None,
                 params: dict[str, Any]) -> None:
        self.path = path
        self.algorithm = algorithm
        self.backend = backend
        self.params = params


def read_config_file(path: str | Path) -> TrainConfigFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist. Check the --config path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc}.") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"Config file {path}, line {exc.lineno}, column {exc.colno}: invalid JSON "
                f"({exc.msg}). Fix the syntax."
            ) from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(
                f"Config file {path}{where}: invalid YAML ({problem}). Fix the syntax."
            ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"Config file {path} must hold a mapping of parameter names to values, "
            f"not a {type(data).__name__}."
        )
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"Config file {path}: key {key!r} is not a string.")
    params = dict(data)
    algorithm = params.pop("algorithm", None)
    backend = params.pop("backend", None)
    for field, value in (("algorithm", algorithm), ("backend", backend)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"Config file {path}: '{field}' must be a name, got {value!r}.")
    return TrainConfigFile(path, algorithm, backend, params)
