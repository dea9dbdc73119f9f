"""Entry-point module of training-hub-embedding: registers ``embedding_sft`` and its
``native`` and ``sentence-transformers`` backends.

Light by design: everything is registered as import strings, so ``th list`` imports
neither pydantic nor torch from here.
"""

from __future__ import annotations

from training_hub import hookimpl

__all__ = ["TRAINING_HUB_PLUGIN_API", "register_algorithms", "register_backends"]

TRAINING_HUB_PLUGIN_API = 1


@hookimpl
def register_algorithms(register):  # type: ignore[no-untyped-def]
    register(
        "embedding_sft",
        "training_hub_embedding.algorithm:EmbeddingSFTAlgorithm",
        default_backend="native",
        description="Contrastive fine-tuning of sentence-embedding models.",
    )


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(
        "embedding_sft",
        "native",
        "training_hub_embedding.native:NativeEmbeddingBackend",
        requires=["torch>=2.5", "transformers>=4.50"],
        description="training-hub's loop: texts packed padding-free, per-text attention.",
    )
    register(
        "embedding_sft",
        "sentence-transformers",
        "training_hub_embedding.st_backend:SentenceTransformersBackend",
        requires=["sentence-transformers>=5.0"],
        description="sentence-transformers' SentenceTransformerTrainer.",
    )
