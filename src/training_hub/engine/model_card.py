"""The model card (README.md) of every saved model folder, ready for the Hugging Face Hub.

A checkpoint folder is a Hugging Face model folder; its README.md starts with
the Hub's metadata block (YAML between ``---`` lines: ``base_model``,
``library_name``, ``tags``, ``datasets``) and then says how the model was made:
the algorithm and backend, the training data (where from, its sha256 and size),
the losses (last training loss, last validation loss when the run evaluates),
the step, the training-hub version and every parameter. Nothing in it changes
how the folder loads (``AutoModelForCausalLM.from_pretrained``, or peft for an
adapter folder).

``base_model`` and ``datasets`` name Hub ids only: the Hub rejects a local path
there, so a local model or data path is written in the body instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CardFacts", "DataFacts", "data_facts", "render_model_card", "write_model_card"]

CARD_NAME = "README.md"


@dataclass(frozen=True)
class DataFacts:
    """The training data as given (``source``), and the file that was read."""

    source: str
    file: str
    sha256: str
    size_bytes: int
    samples: int
    hub_id: str | None = None  # the data set's Hub id, when data_path was one
    subset: str | None = None
    split: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class CardFacts:
    """Everything the card states about one saved model folder."""

    base_model: str  # model_path as given (a Hub id or a local folder)
    base_model_is_hub_id: bool
    algorithm: str
    backend: str
    version: str
    step: int
    epoch: int
    data: DataFacts | None
    final_loss: float | None = None
    val_loss: float | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _sha256_and_size(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest(), os.path.getsize(path)


def data_facts(
    source: str, file: str, samples: int, *, hub_id: str | None = None,
    subset: str | None = None, split: str | None = None, revision: str | None = None,
) -> DataFacts:
    """Hash and size of the data file ``file`` that ``source`` (data_path as given) led to."""
    sha256, size = _sha256_and_size(file)
    return DataFacts(source, file, sha256, size, samples, hub_id, subset, split, revision)


def _metadata(facts: CardFacts, library_name: str) -> dict[str, Any]:
    tags = ["training-hub", facts.algorithm]
    if facts.backend and facts.backend not in tags:
        tags.append(facts.backend)
    meta: dict[str, Any] = {}
    if facts.base_model_is_hub_id:
        meta["base_model"] = facts.base_model
    meta["library_name"] = library_name
    meta["pipeline_tag"] = "text-generation"
    meta["tags"] = tags
    if facts.data is not None and facts.data.hub_id:
        meta["datasets"] = [facts.data.hub_id]
    return meta


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def render_model_card(facts: CardFacts, *, library_name: str = "transformers") -> str:
    """The README.md text: the Hub's metadata block, then what the folder holds."""
    import yaml

    front = yaml.safe_dump(_metadata(facts, library_name), sort_keys=False)
    front = front.strip()
    lines = [
        "---", front, "---", "",
        f"# {facts.algorithm} of {facts.base_model}", "",
        f"Trained with [training-hub](https://pypi.org/project/training-hub-core/) "
        f"{facts.version}: algorithm `{facts.algorithm}`, backend `{facts.backend}`, "
        f"from `{facts.base_model}`; this folder is step {facts.step} (epoch {facts.epoch}).",
        "",
        "| | |", "|---|---|",
        f"| final training loss | {_loss(facts.final_loss)} |",
        f"| validation loss | {_loss(facts.val_loss)} |",
        f"| step | {facts.step} |",
        f"| training-hub | {facts.version} |",
        "",
    ]
    if facts.data is not None:
        data = facts.data
        where = f"`{data.source}`"
        details = [f"{k} `{v}`" for k, v in
                   (("subset", data.subset), ("split", data.split), ("revision", data.revision))
                   if v]
        if details:
            where += " (" + ", ".join(details) + ")"
        lines += [
            "## Training data", "",
            f"{where}: {data.samples} samples; the file read, `{os.path.basename(data.file)}`, "
            f"has {data.size_bytes} bytes and sha256 `{data.sha256}`.", "",
        ]
    loader = ("peft.AutoPeftModelForCausalLM" if library_name == "peft"
              else "transformers.AutoModelForCausalLM")
    lines += [
        "## Use", "",
        "```python",
        f"from {loader.rpartition('.')[0]} import {loader.rpartition('.')[2]}",
        f'model = {loader.rpartition(".")[2]}.from_pretrained("path/or/repo-id")',
        "```", "",
        "## Parameters", "",
        "```json", json.dumps(facts.params, indent=2, sort_keys=True, default=str), "```", "",
    ]
    return "\n".join(lines)


def write_model_card(folder: str | Path, facts: CardFacts) -> Path:
    """Write ``folder/README.md``; an adapter folder (adapter_config.json) is peft's."""
    target = Path(folder)
    library = "peft" if (target / "adapter_config.json").is_file() else "transformers"
    path = target / CARD_NAME
    path.write_text(render_model_card(facts, library_name=library), encoding="utf-8")
    return path
