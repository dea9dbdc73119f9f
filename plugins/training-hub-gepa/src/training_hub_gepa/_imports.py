"""Python objects named by import strings (``'pkg.mod:name'``), for the CLI and YAML.

From Python, callables and strategy objects are passed as they are; on the
command line and in config files they are written as import strings. A string
that names a class is built with no arguments, as ``--callback`` does.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Final

from training_hub import ParameterError

__all__ = ["is_import_string", "resolve_object"]

_IMPORT_STRING: Final = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_import_string(value: object) -> bool:
    """True for ``'package.module:attribute'`` (no ``/``, so never a path or model id)."""
    return isinstance(value, str) and bool(_IMPORT_STRING.match(value.strip()))


def resolve_object(spec: str, parameter: str) -> Any:
    """The object ``spec`` names; a class is instantiated with no arguments."""
    module_name, _, attribute = spec.strip().partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ParameterError(
            f"Parameter '{parameter}': {spec!r} cannot be imported ({type(exc).__name__}: "
            f"{exc}). Check that the module is installed or on PYTHONPATH and the name is "
            "spelled right ('package.module:name')."
        ) from None
    if isinstance(value, type):
        try:
            value = value()
        except TypeError as exc:
            raise ParameterError(
                f"Parameter '{parameter}': class {spec!r} cannot be built without arguments "
                f"({exc}). Name a module-level instance or function instead."
            ) from None
    return value
