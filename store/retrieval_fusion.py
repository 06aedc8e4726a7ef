"""How the full-text and vector rankings become one: weighted reciprocal-rank fusion, and a
document's further chunks decayed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from store.retrieval_tidy import Hit


@dataclass(frozen=True, slots=True)
class HybridWeights:
    """How the two rankings are fused: ``weight / (rrf_k + rank)`` summed over rankings.

    A weight of 0 turns that ranking off (vectors alone, or full text alone).
    """

    text: float = 1.0
    vector: float = 1.0
    rrf_k: int = 20


def fuse(
    hits: Sequence[Hit], weights: HybridWeights, repeat_decay: float
) -> tuple[list[Hit], dict[int, float]]:
    """Chunks best first by reciprocal-rank fusion, a document's further chunks decayed,
    and each chunk's fused score."""
    weight = {"text": weights.text, "vector": weights.vector}
    scores: dict[int, float] = {}
    first: dict[int, Hit] = {}
    for hit in hits:
        scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight[hit.branch] / (
            weights.rrf_k + hit.rank
        )
        first.setdefault(hit.chunk_id, hit)
    ranked = sorted(first.values(), key=lambda h: (-scores[h.chunk_id], h.chunk_id))
    if repeat_decay < 1.0:
        # A document's n-th chunk weighs decay^(n-1): a second passage of one document
        # must rank clearly better than another document's first to come before it.
        count: dict[int, int] = {}
        for hit in ranked:
            n = count.get(hit.document_id, 0)
            count[hit.document_id] = n + 1
            scores[hit.chunk_id] *= repeat_decay**n
        ranked.sort(key=lambda h: (-scores[h.chunk_id], h.chunk_id))
    return ranked, scores
