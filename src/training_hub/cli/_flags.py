"""Turn ``--key value`` command-line arguments into parameters of a schema.

Flags are generated from the schema, never written down: ``--learning-rate 1e-4``
or ``--learning_rate=1e-4``; booleans take ``--flag`` / ``--no-flag``; ``none``
sets an optional value to None; ``--callback pkg.mod:Class`` adds one callback
(repeatable). Values stay strings here; the schema converts
and checks them.
"""

from __future__ import annotations

import difflib
from typing import Any

from .._errors import ParameterError
from .._params import Params, describe_params

__all__ = ["parse_param_flags"]


def _is_bool(annotation: Any) -> bool:
    return annotation is bool or str(annotation) in ("bool | None", "typing.Optional[bool]")


def parse_param_flags(schema: type[Params], args: list[str]) -> dict[str, Any]:
    infos = {p.name: p for p in describe_params(schema)}
    # Another name of a parameter (training_hub 0.11.2's --beta1) sets that parameter.
    aliases = schema.all_aliases()
    flags = sorted("--" + n.replace("_", "-") for n in [*infos, *aliases])
    values: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise ParameterError(
                f"Unexpected argument {arg!r}: parameters are given as --name value."
            )
        key, eq, inline = arg[2:].partition("=")
        name = key.replace("-", "_")
        name = aliases.get(name, name)
        if name == "callback":  # --callback pkg.mod:Class, once per callback
            name = "callbacks"
        negated = False
        positive = aliases.get(name[3:], name[3:])
        if name not in infos and name.startswith("no_") and positive in infos:
            name, negated = positive, True
        if name not in infos:
            match = difflib.get_close_matches("--" + key.replace("_", "-"), flags, n=1)
            hint = f" Did you mean '{match[0]}'?" if match else ""
            raise ParameterError(
                f"Unknown option '--{key}'.{hint} Run `th info <algorithm>` to list parameters."
            )
        info = infos[name]
        if _is_bool(info.type) and not eq:
            if negated or i + 1 >= len(args) or args[i + 1].startswith("--") or \
                    args[i + 1].lower() not in ("true", "false", "1", "0", "yes", "no", "none"):
                values[name] = not negated
                i += 1
                continue
        if negated:
            raise ParameterError(f"'--no-{key[3:]}' only applies to true/false parameters.")
        if eq:
            raw = inline
            i += 1
        else:
            if i + 1 >= len(args):
                raise ParameterError(f"Option '--{key}' needs a value ({info.type_name}).")
            raw = args[i + 1]
            i += 2
        if name == "callbacks":
            values.setdefault(name, []).append(raw)
            continue
        if name in values:
            raise ParameterError(
                f"Option '--{key}' is given twice (or with another name of the same "
                f"parameter, --{name.replace('_', '-')})."
            )
        nullable = "None" in info.type_name.split(" | ")
        values[name] = None if nullable and raw.lower() in ("none", "null") else raw
    return values
