"""The sentence-transformers folder layout, read and written without that library.

A sentence-transformers model folder has ``modules.json`` listing its modules
(Transformer, Pooling, optionally Normalize), the Transformer's files (at the
folder root or in ``0_Transformer/``), ``sentence_bert_config.json`` and
``1_Pooling/config.json``. The native backend reads it to know the pooling and
writes it so that ``SentenceTransformer(path)`` loads what it trained. Both the
layout of sentence-transformers < 5 and that of 5+ are read; the older one, which
every version loads, is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from training_hub import ParameterError

__all__ = ["EncoderLayout", "read_layout", "write_layout"]

Pooling = Literal["mean", "cls"]


@dataclass(frozen=True)
class EncoderLayout:
    """Where the encoder lives in a model folder and how its embeddings are pooled."""

    transformer_dir: Path
    pooling: Pooling
    normalize: bool
    max_seq_length: int | None
    #: False for a plain Hugging Face encoder folder (no modules.json).
    sentence_transformers: bool


def _pooling_of(config: dict[str, object], where: Path) -> Pooling:
    mode = config.get("pooling_mode")  # sentence-transformers 5+
    if mode is None:
        flags = [key.removeprefix("pooling_mode_").removesuffix("_token").removesuffix("_tokens")
                 for key, value in config.items()
                 if key.startswith("pooling_mode_") and value is True]
        mode = flags[0] if len(flags) == 1 else "+".join(flags) or "none"
    if mode not in ("mean", "cls"):
        raise ParameterError(
            f"{where}: pooling mode '{mode}'; the native backend pools with 'mean' or 'cls'. "
            "Train with backend='sentence-transformers', or set pooling= to replace it."
        )
    return mode  # type: ignore[return-value]


def read_layout(model_path: str, pooling_override: Pooling | None = None) -> EncoderLayout:
    """The layout of ``model_path``; a folder without modules.json is a plain encoder
    (mean pooling, as sentence-transformers builds for it). ``pooling_override``
    replaces the folder's pooling."""
    root = Path(model_path)
    modules_file = root / "modules.json"
    if not modules_file.is_file():
        if not (root / "config.json").is_file():
            raise ParameterError(
                f"model_path {model_path} holds neither modules.json (a sentence-transformers "
                "model) nor config.json (a Hugging Face encoder). Give a local model folder."
            )
        return EncoderLayout(root, pooling_override or "mean", False, None, False)
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    transformer_dir: Path | None = None
    pooling: Pooling | None = None
    normalize = False
    max_seq_length = None
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        folder = root / module.get("path", "")
        if kind == "Transformer":
            transformer_dir = folder
            config_file = folder / "sentence_bert_config.json"
            if config_file.is_file():
                max_seq_length = json.loads(config_file.read_text()).get("max_seq_length")
        elif kind == "Pooling":
            config = json.loads((folder / "config.json").read_text())
            pooling = pooling_override or _pooling_of(config, folder)
        elif kind == "Normalize":
            normalize = True
        else:
            raise ParameterError(
                f"{modules_file}: module '{module.get('type')}' is not one the native backend "
                "runs (it runs Transformer, Pooling and Normalize). Train this model with "
                "backend='sentence-transformers'."
            )
    if transformer_dir is None or pooling is None:
        raise ParameterError(f"{modules_file} lists no Transformer or no Pooling module; it is "
                             "not a sentence-transformers text embedding model.")
    return EncoderLayout(transformer_dir, pooling, normalize, max_seq_length, True)


def write_layout(
    folder: Path, *, dimension: int, pooling: Pooling, normalize: bool, max_seq_length: int
) -> None:
    """Write the sentence-transformers files beside the encoder saved at ``folder``."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "modules.json").write_text(json.dumps(modules, indent=2))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}, indent=2)
    )
    (folder / "1_Pooling").mkdir(exist_ok=True)
    pooling_config = {
        "word_embedding_dimension": dimension,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config, indent=2))
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"},
                   indent=2)
    )
