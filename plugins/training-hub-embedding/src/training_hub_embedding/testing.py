"""A tiny BERT-shaped encoder and a toy retrieval task, built locally (no hub), for the
tests and the benchmark of embedding_sft.

The task: queries name a country, documents name its capital, in templates that
share no content words with each other, so an untrained encoder retrieves at
chance and one trained on some templates retrieves well on held-out ones.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

__all__ = [
    "CAPITALS",
    "make_tiny_encoder",
    "toy_labeled_rows",
    "toy_pairs",
    "write_jsonl",
]

#: (country, capital): one word each, so the tokenizer keeps them whole.
CAPITALS = [
    ("france", "paris"), ("germany", "berlin"), ("italy", "rome"), ("spain", "madrid"),
    ("portugal", "lisbon"), ("poland", "warsaw"), ("greece", "athens"),
    ("sweden", "stockholm"), ("norway", "oslo"), ("finland", "helsinki"),
    ("ireland", "dublin"), ("austria", "vienna"), ("hungary", "budapest"),
    ("egypt", "cairo"), ("kenya", "nairobi"), ("nigeria", "abuja"), ("morocco", "rabat"),
    ("ghana", "accra"), ("japan", "tokyo"), ("china", "beijing"), ("thailand", "bangkok"),
    ("vietnam", "hanoi"), ("indonesia", "jakarta"), ("turkey", "ankara"),
    ("canada", "ottawa"), ("mexico", "mexico"), ("cuba", "havana"), ("brazil", "brasilia"),
    ("argentina", "buenos"), ("peru", "lima"), ("chile", "santiago"), ("colombia", "bogota"),
]

_QUERY_TEMPLATES = [
    "what is the capital of {c}",
    "name the main city of {c} please",
    "{c} has its government in which place",
    "tell me where the leaders of {c} work",
    "which town rules over {c}",
    "in {c} the seat of power is where",
]
_DOC_TEMPLATES = [
    "{k} is a big city",
    "the streets of {k} are busy at night",
    "many people live and work in {k}",
    "{k} has old buildings and a river",
    "you can visit {k} by train",
    "{k} , known for its museums",
]
#: Templates kept for evaluation only.
_HELD_OUT_QUERIES = ["i want to know the capital city of {c} today"]
_HELD_OUT_DOCS = ["tourists love {k} in the summer"]

_FILLERS = "really quite very truly indeed surely".split()


def _vary(text: str, rng: random.Random) -> str:
    """Insert a filler word or two, so that texts have many different lengths."""
    words = text.split()
    for _ in range(rng.randint(0, 4)):
        words.insert(rng.randint(0, len(words)), rng.choice(_FILLERS))
    return " ".join(words)


def toy_pairs(*, held_out: bool = False, copies: int = 1, seed: int = 0) -> list[dict[str, str]]:
    """(anchor, positive) pairs: a query about a country and a text about its capital."""
    rng = random.Random(seed)
    queries = _HELD_OUT_QUERIES if held_out else _QUERY_TEMPLATES
    docs = _HELD_OUT_DOCS if held_out else _DOC_TEMPLATES
    rows = []
    for _ in range(copies):
        for country, capital in CAPITALS:
            for query in queries:
                doc = rng.choice(docs)
                rows.append({
                    "anchor": _vary(query.format(c=country), rng),
                    "positive": _vary(doc.format(k=capital), rng),
                })
    rng.shuffle(rows)
    return rows


def toy_labeled_rows(*, held_out: bool = False, seed: int = 0) -> list[dict[str, Any]]:
    """{text, label} rows: queries and capital texts labeled with their country."""
    rng = random.Random(seed)
    queries = _HELD_OUT_QUERIES if held_out else _QUERY_TEMPLATES
    docs = _HELD_OUT_DOCS if held_out else _DOC_TEMPLATES
    rows = []
    for label, (country, capital) in enumerate(CAPITALS):
        for query in queries:
            rows.append({"text": _vary(query.format(c=country), rng), "label": label})
        for doc in docs:
            rows.append({"text": _vary(doc.format(k=capital), rng), "label": label})
    rng.shuffle(rows)
    return rows


def write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    path = Path(path)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _corpus() -> list[str]:
    texts = []
    for country, capital in CAPITALS:
        for template in _QUERY_TEMPLATES + _HELD_OUT_QUERIES:
            texts.append(template.format(c=country))
        for template in _DOC_TEMPLATES + _HELD_OUT_DOCS:
            texts.append(template.format(k=capital))
    texts.append(" ".join(_FILLERS))
    return texts


def make_tiny_encoder(
    path: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 128,
    seed: int = 0,
) -> Path:
    """Save a randomly initialised BERT and a small WordPiece tokenizer to ``path``
    (a plain Hugging Face encoder folder, as sentence-transformers loads with mean pooling)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    backend.train_from_iterator(_corpus(), WordPieceTrainer(vocab_size=400,
                                                            special_tokens=specials))
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer = BertTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=64,
    )
    tokenizer.save_pretrained(str(path))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=backend.get_vocab_size(), hidden_size=hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads,
        intermediate_size=intermediate_size, max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(str(path))
    return path
