"""Parameter schemas: the one place an algorithm writes its parameters down.

A schema is a pydantic model (a subclass of :class:`Params`). From it come the
algorithm's ``get_required_params()`` / ``get_optional_params()``, the CLI flags
of ``th train``, the keys of a YAML/JSON config file, ``th info`` and the docs.
pydantic is imported only by modules that define or use a schema, never by
``import training_hub``.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._errors import ParameterError

__all__ = ["ParamInfo", "Params", "describe_params", "type_name", "validate_params"]


class Params(BaseModel):
    """Base class of every algorithm's parameter schema.

    Unknown keys are refused (never silently dropped) and values are checked on
    assignment, so a schema instance is always valid. Every schema has
    ``callbacks``: objects, not data, so it is left out of :meth:`to_dict` and of
    every JSON or config dump of the parameters.
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )

    #: Parameters the CLI and docs group under "advanced"; purely presentational.
    advanced: ClassVar[frozenset[str]] = frozenset()
    #: Other names a parameter is accepted under (alias -> field), e.g. training_hub
    #: 0.11.2's ``{"beta1": "adam_beta1"}``: same meaning, one field. A subclass's
    #: aliases add to its parents' (see :meth:`all_aliases`). Python keywords, config
    #: keys and ``th train`` flags accept them; giving a name and its alias is an error.
    param_aliases: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def all_aliases(cls) -> dict[str, str]:
        """Every alias of this schema and its parents (alias -> field name)."""
        merged: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get("param_aliases", {}))
        return {a: f for a, f in merged.items() if f in cls.model_fields}

    @model_validator(mode="before")
    @classmethod
    def _resolve_aliases(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        aliases = cls.all_aliases()
        if not any(key in aliases for key in data):
            return data
        resolved = dict(data)
        for alias, name in aliases.items():
            if alias in resolved:
                if name in resolved:
                    raise ValueError(
                        f"'{alias}' and '{name}' are the same parameter ('{alias}' is another "
                        f"name of '{name}'): give only one of them"
                    )
                resolved[name] = resolved.pop(alias)
        return resolved

    callbacks: list[Any] = Field(
        default_factory=list,
        exclude=True,
        description=(
            "Callbacks that observe and steer the run: TrainingHubCallback instances, "
            "classes or 'pkg.module:Class' import strings (CLI: --callback, repeatable). "
            "See the Callbacks section of the user guide."
        ),
    )

    @field_validator("callbacks", mode="before")
    @classmethod
    def _resolve_callbacks(cls, value: Any) -> list[Any]:
        from .callbacks import resolve_callbacks

        return resolve_callbacks(value)

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of every parameter, defaults included (``callbacks`` left out)."""
        return self.model_dump()

    @classmethod
    def field_with_default(cls, name: str, default: Any) -> Any:
        """Field ``name`` of this schema with another default, to declare in a subclass.

        Its constraints and description come along, so they are not written twice::

            class LoRAParams(TrainingParams):
                learning_rate: float = TrainingParams.field_with_default("learning_rate", 2e-4)
        """
        from pydantic.fields import FieldInfo

        return FieldInfo.merge_field_infos(cls.model_fields[name], default=default)


class ParamInfo(typing.NamedTuple):
    """What ``th info`` and the docs show of one parameter."""

    name: str
    type: Any
    type_name: str
    required: bool
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    #: Other names accepted for it (:attr:`Params.param_aliases`).
    aliases: tuple[str, ...] = ()


def _literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            choices = _literal_choices(arg)
            if choices:
                return choices
    return None


def _registry_choices(field: Any) -> tuple[Any, ...] | None:
    """The installed names of a field that names a component (``registry`` in its
    ``json_schema_extra``, see training_hub.components); loads the plugins."""
    extra = field.json_schema_extra
    if not isinstance(extra, dict) or not isinstance(extra.get("registry"), str):
        return None
    from .components import component_choices

    return tuple(component_choices(extra["registry"]))


def type_name(annotation: Any) -> str:
    """Short human name of a type annotation: ``int``, ``float | None``, ``'a' | 'b'``."""
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in get_args(annotation))
    if origin in (list, tuple, dict):
        inner = ", ".join(type_name(a) for a in get_args(annotation) if a is not Ellipsis)
        return f"{origin.__name__}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def describe_params(schema: type[Params]) -> list[ParamInfo]:
    """Every parameter of ``schema`` in declaration order (the inherited ``callbacks``
    last)."""
    infos = []
    aliases: dict[str, list[str]] = {}
    for alias, target in getattr(schema, "all_aliases", dict)().items():
        aliases.setdefault(target, []).append(alias)
    # ``callbacks`` comes from the base class, so first in pydantic's order: list it last.
    fields = sorted(schema.model_fields.items(), key=lambda item: item[0] == "callbacks")
    for name, field in fields:
        required = field.is_required()
        infos.append(
            ParamInfo(
                name=name,
                type=field.annotation,
                type_name=type_name(field.annotation),
                required=required,
                default=None if required else field.get_default(call_default_factory=True),
                help=field.description or "",
                choices=_literal_choices(field.annotation) or _registry_choices(field),
                aliases=tuple(aliases.get(name, ())),
            )
        )
    return infos


def _closest(name: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if match:
        return f" Did you mean '{match[0]}'?"
    return ""


def validate_params(
    schema: type[Params], values: Mapping[str, Any], *, where: str = "parameters"
) -> Params:
    """Build ``schema`` from ``values`` or raise one :class:`ParameterError`.

    ``where`` names the origin (an algorithm, a config file) in the message.
    Every problem is listed: unknown names with the closest valid one, missing
    required ones, and wrong types with the expected type and the given value.
    """
    aliases = schema.all_aliases()
    known = [*schema.model_fields, *aliases]
    problems: list[str] = []
    for key in values:
        if key not in schema.model_fields and key not in aliases:
            problems.append(f"unknown parameter '{key}'.{_closest(key, known)}")
    if not problems:
        try:
            return schema(**values)
        except ValidationError as exc:
            for err in exc.errors():
                if not err["loc"]:
                    problems.append(str(err["msg"]).removeprefix("Value error, "))
                    continue
                loc = ".".join(str(p) for p in err["loc"])
                field = schema.model_fields.get(str(err["loc"][0])) if err["loc"] else None
                if err["type"] == "missing":
                    problems.append(f"missing required parameter '{loc}'")
                    continue
                if err["loc"][0] == "callbacks" and err["type"] == "value_error":
                    problems.append(str(err["msg"]).removeprefix("Value error, ").rstrip("."))
                    continue
                expected = type_name(field.annotation) if field is not None else "?"
                given = err.get("input")
                problems.append(
                    f"parameter '{loc}' expects {expected}, got {given!r} ({err['msg']})"
                )
    listing = "; ".join(problem.rstrip(".") for problem in problems)  # one full stop
    raise ParameterError(
        f"Invalid {where}: {listing}. Run `th info` with the algorithm name to see every "
        "parameter with its type and default."
    )
