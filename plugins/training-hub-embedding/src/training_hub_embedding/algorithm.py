"""``EmbeddingSFTAlgorithm`` and ``EmbeddingSFTParams``: contrastive fine-tuning of
sentence-embedding models, with the parameter names of training_hub 0.11.2.

The schema is the one place the parameters are written down: the Python API,
``th train embedding_sft`` flags, YAML configs and ``th info`` come from it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from training_hub import Algorithm
from training_hub._params import Params

__all__ = [
    "BUILTIN_LOSSES",
    "LABEL_LOSSES",
    "PAIR_LOSSES",
    "EmbeddingSFTAlgorithm",
    "EmbeddingSFTParams",
]

#: The built-in losses and what they train on. Other names are looked up in the
#: ``losses`` component registry (``training_hub.registry.LOSSES``).
PAIR_LOSSES = ("mnrl", "cached_mnrl")
LABEL_LOSSES = ("batch_all_triplet", "batch_hard_triplet")
BUILTIN_LOSSES = (*PAIR_LOSSES, *LABEL_LOSSES)


class EmbeddingSFTParams(Params):
    """Contrastive fine-tuning of a sentence-embedding model (embedding_sft)."""

    advanced = frozenset({
        "columns", "max_seq_length", "pooling", "mnrl_scale", "triplet_margin",
        "mini_batch_size", "weight_decay", "max_grad_norm", "logging_steps",
        "max_pairs_per_label",
    })

    # --- what to train, on what, and where to write (names of training_hub 0.11.2) ------
    model_path: str = Field(
        description="Embedding model: a sentence-transformers folder (modules.json), a "
        "Hugging Face encoder folder (config.json, tokenizer, weights), or the Hub id of "
        "either (fetched into the Hub cache; HF_HUB_OFFLINE=1 uses the cache only)."
    )
    data_path: str = Field(
        description="Training data: .jsonl, .json, .parquet or a `datasets` save_to_disk "
        "folder of {text, label} rows, (anchor, positive) pairs or (anchor, positive, "
        "negative) triplets."
    )
    ckpt_output_dir: str = Field(
        description="Folder the fine-tuned model (sentence-transformers format) and "
        "metrics.jsonl are written to."
    )

    # --- the objective --------------------------------------------------------------
    loss_type: str = Field(
        "batch_all_triplet",
        description="Loss: 'mnrl' (in-batch negatives), 'cached_mnrl' (GradCache: large "
        "batches in constant memory), 'batch_all_triplet', 'batch_hard_triplet', or the "
        "name of a loss in the `losses` component registry.",
    )
    loss_fn: Any = Field(
        None,
        description="A loss object that overrides loss_type: a callable "
        "fn(embeddings, labels) -> loss tensor, a sentence-transformers loss instance "
        "(sentence-transformers backend), or a 'pkg.module:name' import string.",
    )

    # --- how long and how fast ------------------------------------------------------
    num_epochs: int = Field(20, ge=1, description="Passes over the training data.")
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many optimizer steps (overrides num_epochs)."
    )
    batch_size: int = Field(
        32, ge=2, description="Examples (pairs, triplets or labeled texts) per optimizer step."
    )
    learning_rate: float = Field(2e-5, gt=0, description="Peak learning rate of AdamW.")
    warmup_ratio: float = Field(
        0.1, ge=0, lt=1, description="Fraction of the steps with a linear warmup; then "
        "linear decay to zero (as sentence-transformers does)."
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW's decoupled weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")

    # --- batches --------------------------------------------------------------------
    batch_sampler: Literal["no_duplicates", "group_by_label", "default"] | None = Field(
        None,
        description="How batches are drawn: 'no_duplicates' (no text twice in a batch, so "
        "no false in-batch negatives), 'group_by_label' (several texts per label, for "
        "triplet losses) or 'default' (shuffled). None picks no_duplicates for pair losses "
        "and group_by_label for label losses.",
    )

    # --- data -----------------------------------------------------------------------
    eval_data_path: str | None = Field(
        None,
        description="Held-out data in one of the training formats: retrieval metrics "
        "(recall@1/5/10, MRR@10, NDCG@10) are computed on it before and after training.",
    )
    text_column: str = Field("text", description="Column of the text in {text, label} rows.")
    label_column: str = Field("label", description="Column of the label in {text, label} rows.")
    columns: list[str] | None = Field(
        None,
        description="Columns of pair/triplet data in the order anchor, positive[, negative] "
        "(on the command line: --columns query,doc). None: columns named anchor/positive/"
        "negative, else the text columns in file order.",
    )
    max_pairs_per_label: int = Field(
        10_000, ge=1,
        description="Pair losses on {text, label} rows: at most this many (anchor, positive) "
        "pairs are built per label.",
    )
    max_seq_length: int | None = Field(
        None, ge=2,
        description="Token limit per text; longer texts are truncated and counted in the "
        "result. None: the model's own limit.",
    )

    # --- the model and loss details --------------------------------------------------
    pooling: Literal["mean", "cls"] | None = Field(
        None, description="Pooling of token embeddings. None: the model's sentence-"
        "transformers pooling config, else mean.",
    )
    mnrl_scale: float = Field(
        20.0, gt=0, description="Scale (1/temperature) of the cosine similarities in mnrl "
        "and cached_mnrl.",
    )
    triplet_margin: float = Field(
        5.0, gt=0, description="Margin of the batch triplet losses (Euclidean distance).",
    )
    mini_batch_size: int = Field(
        32, ge=1, description="cached_mnrl: texts embedded per chunk (memory bound).",
    )
    logging_steps: int = Field(10, ge=1, description="Log the loss every this many steps.")
    seed: int = Field(42, description="Random seed (data order, dropout).")

    @field_validator("loss_type")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        if value in BUILTIN_LOSSES:
            return value
        from training_hub.registry import LOSSES

        try:
            LOSSES.get(value)
        except KeyError:
            raise ValueError(
                f"loss_type '{value}' is neither a built-in loss ({', '.join(BUILTIN_LOSSES)}) "
                f"nor registered in the `losses` registry (registered: {LOSSES.list()}). "
                "Register it with a plugin's register_components hook or pass loss_fn."
            ) from None
        return value

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_from_text(cls, value: Any) -> Any:
        """A flag or YAML string: a JSON list, or names separated by commas."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"columns={value!r} is not a JSON list; write it as "
                                 "query,doc or [\"query\", \"doc\"]") from None
        return [name.strip() for name in text.split(",") if name.strip()]

    @field_validator("columns")
    @classmethod
    def _two_or_three(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) not in (2, 3):
            raise ValueError(
                f"columns={value}: give 2 (anchor, positive) or 3 (anchor, positive, "
                "negative) column names"
            )
        return value


class EmbeddingSFTAlgorithm(Algorithm):
    """Contrastive fine-tuning: texts that belong together end up close in embedding space."""

    params_schema = EmbeddingSFTParams
    default_backend = "native"
    description = "Contrastive fine-tuning of sentence-embedding models."
