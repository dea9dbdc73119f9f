"""The parameter reference of docs/parameters.md, generated from the algorithms' schemas.

``python -m training_hub._paramdocs > docs/parameters.md`` rewrites the page; a
test fails when the committed page and the schemas disagree.
"""

from __future__ import annotations

from ._params import Params, describe_params

__all__ = ["DOCUMENTED_ALGORITHMS", "parameter_reference", "params_markdown"]

#: The first-party algorithms whose parameters the page documents.
DOCUMENTED_ALGORITHMS = (
    "sft", "osft", "lora", "dpo", "grpo", "lora_grpo", "embedding_sft", "gepa",
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def params_markdown(schema: type[Params], *, inherited: type[Params] | None = None) -> str:
    """A markdown table of ``schema``; fields of ``inherited`` are summarised in one line
    (those whose default ``schema`` changes are listed)."""

    def listed(name: str) -> bool:
        if inherited is None or name not in inherited.model_fields:
            return True
        parent, field = inherited.model_fields[name], schema.model_fields[name]
        return bool(parent.get_default(call_default_factory=True)
                    != field.get_default(call_default_factory=True))

    own = [p for p in describe_params(schema) if listed(p.name)]
    lines = ["| parameter (flag) | type | default | what it does |", "|---|---|---|---|"]
    for p in own:
        default = "**required**" if p.required else f"`{p.default!r}`"
        also = "".join(f"; also `{a}`" for a in p.aliases)  # e.g. training_hub 0.11.2's
        lines.append(f"| `{p.name}` (`--{p.name.replace('_', '-')}`{also}) "
                     f"| `{_cell(p.type_name)}` | {default} | {_cell(p.help)} |")
    if inherited is not None:
        lines.append(f"\nPlus every other parameter of `{inherited.__name__}` (the sft table "
                     "above).")
    return "\n".join(lines) + "\n"


def parameter_reference() -> str:
    """The whole page, for the installed first-party algorithms."""
    from ._algorithm_registry import AlgorithmRegistry
    from .training_params import TrainingParams

    parts = [
        "# Parameter reference\n",
        "Generated from each algorithm's parameter schema by "
        "`python -m training_hub._paramdocs`; the same schema gives the Python keyword "
        "arguments, the `th train` flags, the config-file keys and `th info ALGORITHM`.\n",
    ]
    for name in DOCUMENTED_ALGORITHMS:
        schema = AlgorithmRegistry.get_algorithm(name).params_schema
        if schema is None:
            continue
        parts.append(f"## {name}\n")
        if schema.__doc__:
            parts.append(schema.__doc__.strip().splitlines()[0] + "\n")
        if name == "sft" or not issubclass(schema, TrainingParams):
            parts.append(params_markdown(schema))  # gepa, embedding_sft: their own schema
        else:
            parts.append(params_markdown(schema, inherited=TrainingParams))
    return "\n".join(parts)


if __name__ == "__main__":
    from ._public import require_every_plugin

    require_every_plugin("docs/parameters.md")
    print(parameter_reference(), end="")
