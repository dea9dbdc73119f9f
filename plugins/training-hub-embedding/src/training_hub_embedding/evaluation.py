"""Information-retrieval metrics of an embedding model: recall@k, MRR@10, NDCG@10.

Both backends compute them here, from query and corpus embeddings and cosine
similarity, with the definitions of sentence-transformers'
``InformationRetrievalEvaluator`` (binary relevance; recall@k is the fraction of a
query's relevant documents in its top k, averaged over queries).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .data import RetrievalTask

__all__ = ["RECALL_AT", "evaluate_retrieval", "retrieval_metrics"]

RECALL_AT = (1, 5, 10)
_TOP = 10


def retrieval_metrics(
    query_embeddings: Any, corpus_embeddings: Any, task: RetrievalTask
) -> dict[str, float]:
    """``{"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}`` of one task."""
    import torch
    import torch.nn.functional as F

    queries = F.normalize(query_embeddings.float(), dim=-1)
    corpus = F.normalize(corpus_embeddings.float(), dim=-1)
    scores = queries @ corpus.T
    for row, excluded in enumerate(task.excluded):
        if excluded is not None:
            scores[row, excluded] = -math.inf
    depth = min(max(*RECALL_AT, _TOP), corpus.shape[0])
    top = torch.topk(scores, depth, dim=1).indices.tolist()
    totals = {f"recall@{k}": 0.0 for k in RECALL_AT} | {"mrr@10": 0.0, "ndcg@10": 0.0}
    for ranked, relevant in zip(top, task.relevant, strict=True):
        for k in RECALL_AT:
            totals[f"recall@{k}"] += sum(doc in relevant for doc in ranked[:k]) / len(relevant)
        for rank, doc in enumerate(ranked[:_TOP]):
            if doc in relevant:
                totals["mrr@10"] += 1.0 / (rank + 1)
                break
        dcg = sum(1.0 / math.log2(rank + 2) for rank, doc in enumerate(ranked[:_TOP])
                  if doc in relevant)
        ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), _TOP)))
        totals["ndcg@10"] += dcg / ideal
    return {name: value / len(task.queries) for name, value in totals.items()}


def evaluate_retrieval(
    encode: Callable[[Sequence[str]], Any], task: RetrievalTask
) -> dict[str, float]:
    """Metrics of the model behind ``encode`` (texts -> ``[n, dim]`` tensor) on ``task``."""
    import torch

    with torch.no_grad():
        return retrieval_metrics(encode(task.queries), encode(task.corpus), task)
