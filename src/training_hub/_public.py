"""The one-call training functions of ``training_hub``: ``sft(...)``, ``lora_sft(...)``...

Each function is built on first access from its algorithm's one parameter
schema, so it has a real signature (every parameter keyword-only, with its type
and default, plus ``backend``) and a docstring with every parameter's
description: ``help(sft)``, ``inspect.signature(sft)`` and notebook completion
show them all. Another name of a parameter (training_hub 0.11.2's ``beta1`` for
``adam_beta1``) is accepted through ``**aliases`` and listed in the docstring.

Building a function imports pydantic and the plugin's schema module, never
torch. An algorithm whose plugin is not installed still has its function (with
``**params`` for a signature); calling it says which distribution to install.
Static tools read the same signatures from the generated ``_signatures.pyi``.
"""

from __future__ import annotations

import inspect
import textwrap
import types
import typing
from collections.abc import Callable
from typing import Any

from ._errors import AlgorithmNotFoundError, ParameterError

__all__ = [
    "ALGORITHM_FUNCTIONS",
    "AlgorithmFunction",
    "algorithm_function",
    "function_parts",
    "require_every_plugin",
]


class AlgorithmFunction(typing.NamedTuple):
    """Which algorithm a public function trains and the distribution that provides it."""

    algorithm: str
    distribution: str
    summary: str


#: Public function name -> what it trains. ``lora_sft`` is training_hub 0.11.2's name of
#: ``lora``; both stay.
ALGORITHM_FUNCTIONS: dict[str, AlgorithmFunction] = {
    "sft": AlgorithmFunction("sft", "training-hub-sft", "Supervised fine-tuning."),
    "osft": AlgorithmFunction("osft", "training-hub-osft",
                              "Orthogonal subspace fine-tuning (continual learning)."),
    "lora": AlgorithmFunction("lora", "training-hub-lora", "LoRA / QLoRA adapters."),
    "lora_sft": AlgorithmFunction("lora", "training-hub-lora",
                                  "LoRA / QLoRA adapters (training_hub 0.11.2's name of lora)."),
    "dpo": AlgorithmFunction("dpo", "training-hub-trl", "Direct preference optimisation."),
    "grpo": AlgorithmFunction("grpo", "training-hub-grpo",
                              "Group relative policy optimisation (reinforcement learning)."),
    "lora_grpo": AlgorithmFunction("lora_grpo", "training-hub-grpo",
                                   "GRPO training LoRA adapters."),
    "embedding_sft": AlgorithmFunction("embedding_sft", "training-hub-embedding",
                                       "Contrastive fine-tuning of embedding models."),
    "gepa": AlgorithmFunction("gepa", "training-hub-gepa",
                              "Prompt optimisation by reflective evolution (GEPA)."),
}

_BACKEND_DOC = (
    "Backend to train with (`th list` shows them); None: the algorithm's default backend "
    "when it can run here, else the first one that can."
)


def _schema_of(algorithm: str) -> Any:
    """The algorithm's parameter schema, or None when it is not installed or has none."""
    from ._algorithm_registry import AlgorithmRegistry

    try:
        return AlgorithmRegistry.get_algorithm(algorithm).params_schema
    except AlgorithmNotFoundError:
        return None


def function_parts(schema: Any) -> tuple[inspect.Signature, dict[str, list[str]]]:
    """The signature of a function over ``schema`` (required parameters first, then
    ``backend``, then the others in schema order, then ``**aliases`` when the schema has
    any) and the aliases of each parameter."""
    from ._params import describe_params

    infos = describe_params(schema)
    keyword = inspect.Parameter.KEYWORD_ONLY
    required = [inspect.Parameter(p.name, keyword, annotation=p.type) for p in infos
                if p.required]
    optional = [inspect.Parameter(p.name, keyword, annotation=p.type, default=p.default)
                for p in infos if not p.required]
    backend = inspect.Parameter("backend", keyword, annotation=str | None, default=None)
    parameters = [*required, backend, *optional]
    aliases = {p.name: list(p.aliases) for p in infos if p.aliases}
    if aliases:
        parameters.append(inspect.Parameter("aliases", inspect.Parameter.VAR_KEYWORD,
                                            annotation=Any))
    return inspect.Signature(parameters, return_annotation=Any), aliases


def _docstring(name: str, spec: AlgorithmFunction, schema: Any) -> str:
    from ._params import describe_params

    lines = [f"{spec.summary} Trains the '{spec.algorithm}' algorithm "
             f"(distribution {spec.distribution}).", ""]
    if schema is not None and schema.__doc__:
        lines += [inspect.cleandoc(schema.__doc__).splitlines()[0], ""]
    lines += [
        "Every parameter is a keyword. A parameter left out takes its default; None for "
        "one whose type does not allow None means the same (as in training_hub 0.11.2). "
        f"The same parameters are `th train {spec.algorithm}` flags and config-file keys; "
        f"`th info {spec.algorithm}` lists them.",
        "",
        "Parameters:",
    ]
    infos = describe_params(schema)
    entries = [(p.name, p.type_name, "required", p.help, p.aliases)
               for p in infos if p.required]
    entries.append(("backend", "str | None", "default None", _BACKEND_DOC, ()))
    entries += [(p.name, p.type_name, f"default {p.default!r}", p.help, p.aliases)
                for p in infos if not p.required]
    for param, type_text, default, help_text, aliases in entries:
        also = f" Also accepted as: {', '.join(aliases)}." if aliases else ""
        # The "name (type, default):" head stays on one line: Google-style docstring
        # parsers (mkdocstrings for the docs site) read an entry from that line.
        head = f"{param} ({type_text}, {default}):".replace(" ", "\0")
        lines += [line.replace("\0", " ") for line in textwrap.wrap(
            f"{head} {help_text}{also}", width=88, initial_indent="    ",
            subsequent_indent="        ", break_long_words=False, break_on_hyphens=False)]
    lines += ["", "Returns:",
              "    The backend's result; the native engine's TrainResult (final_loss, steps, "
              "last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained "
              "model as training_hub 0.11.2's lora_sft returned them)."]
    return "\n".join(lines)


def _missing_plugin_doc(spec: AlgorithmFunction) -> str:
    return (f"{spec.summary} Needs the {spec.distribution} plugin distribution, which is "
            f"not installed: pip install {spec.distribution}")


def _not_installed(spec: AlgorithmFunction) -> AlgorithmNotFoundError:
    return AlgorithmNotFoundError(
        f"Algorithm '{spec.algorithm}' is not installed: it comes with the "
        f"{spec.distribution} plugin distribution. Install it (pip install "
        f"{spec.distribution}), then check `th list`."
    )


def _accepts_none(annotation: Any) -> bool:
    if annotation is Any or annotation is type(None):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts_none(a) for a in typing.get_args(annotation))
    return False


def algorithm_function(name: str) -> Callable[..., Any]:
    """The public function ``name`` (a key of :data:`ALGORITHM_FUNCTIONS`)."""
    spec = ALGORITHM_FUNCTIONS[name]
    schema = _schema_of(spec.algorithm)
    if schema is not None:
        signature, _ = function_parts(schema)
        # training_hub 0.11.2 passes None for "not given"; a field that cannot be None
        # takes its default then, one that can (max_steps) gets None.
        none_means_default = {
            n for n, field in schema.model_fields.items() if not _accepts_none(field.annotation)
        }
        none_means_default |= {alias for alias, field in schema.all_aliases().items()
                               if field in none_means_default}
    else:
        signature = inspect.Signature(
            [inspect.Parameter("backend", inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation=str | None),
             inspect.Parameter("params", inspect.Parameter.VAR_KEYWORD, annotation=Any)],
            return_annotation=Any,
        )
        none_means_default = set()

    def train_algorithm(*args: Any, **kwargs: Any) -> Any:
        if args:
            raise ParameterError(
                f"{name}() takes keyword arguments only, e.g. {name}(model_path=..., "
                f"data_path=..., ckpt_output_dir=...); got {len(args)} positional."
            )
        from ._factory import train

        backend = kwargs.pop("backend", None)
        given = {k: v for k, v in kwargs.items() if not (v is None and k in none_means_default)}
        try:
            return train(spec.algorithm, backend, **given)
        except AlgorithmNotFoundError:
            if _schema_of(spec.algorithm) is None:
                raise _not_installed(spec) from None
            raise

    function = train_algorithm
    function.__name__ = function.__qualname__ = name
    function.__signature__ = signature  # type: ignore[attr-defined]
    function.__doc__ = (_docstring(name, spec, schema) if schema is not None
                        else _missing_plugin_doc(spec))
    function.__module__ = "training_hub"
    return function


# --- the stub static tools read (_signatures.pyi) ----------------------------------------

_STUB_HEADER = '''# ruff: noqa
"""Signatures of training_hub's training functions, for type checkers and IDEs.

Generated from the algorithms' schemas by ``python -m training_hub._public >
src/training_hub/_signatures.pyi``; a test checks it is up to date. At run time the
functions come from ``training_hub._public`` with the same signatures.
"""

from typing import Any, Literal

'''


def _annotation_source(annotation: Any) -> str:
    """``annotation`` as stub source; types a stub cannot name become ``Any``."""
    if annotation is None or annotation is type(None):
        return "None"
    if annotation in (int, float, str, bool, bytes):
        return str(annotation.__name__)
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in arguments)}]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_annotation_source(a) for a in arguments)
    if origin in (list, dict, tuple, set) and arguments:
        inner = ", ".join("..." if a is Ellipsis else _annotation_source(a) for a in arguments)
        return f"{origin.__name__}[{inner}]"
    if origin in (list, dict, tuple, set):
        return f"{origin.__name__}[Any]"
    return "Any"


def _default_source(value: Any) -> str:
    simple = value is None or isinstance(value, (bool, int, float, str))
    return repr(value) if simple else "..."


def stub_source() -> str:
    """The text of ``_signatures.pyi`` for the algorithms installed now."""
    parts = [_STUB_HEADER]
    for name in sorted(ALGORITHM_FUNCTIONS):
        function = algorithm_function(name)
        signature = inspect.signature(function)
        rendered = []
        keyword_only_marked = False
        for parameter in signature.parameters.values():
            annotation = _annotation_source(parameter.annotation)
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                rendered.append(f"**{parameter.name}: {annotation}")
                continue
            if not keyword_only_marked:
                rendered.append("*")
                keyword_only_marked = True
            text = f"{parameter.name}: {annotation}"
            if parameter.default is not inspect.Parameter.empty:
                text += f" = {_default_source(parameter.default)}"
            rendered.append(text)
        doc = (function.__doc__ or "").replace("\\", "\\\\").replace('"""', "'''")
        body = textwrap.indent(f'"""{doc}\n"""\n...', "    ")
        params_text = "".join(f"    {r},\n" for r in rendered)
        parts.append(f"\ndef {name}(\n{params_text}) -> Any:\n{body}\n\n")
    return "".join(parts).rstrip() + "\n"


def require_every_plugin(what: str) -> None:
    """Refuse to generate ``what`` unless every first-party algorithm is installed: a page
    or stub generated from a partial install describes the missing ones wrongly."""
    missing = sorted({s.distribution for s in ALGORITHM_FUNCTIONS.values()
                      if _schema_of(s.algorithm) is None})
    if missing:
        raise SystemExit(
            f"{what} is generated from the full install, but {', '.join(missing)} "
            "is not installed: run README's install command first (it installs every "
            "plugin distribution), then generate again."
        )


if __name__ == "__main__":
    require_every_plugin("src/training_hub/_signatures.pyi")
    print(stub_source(), end="")
