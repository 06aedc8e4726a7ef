"""Retrieval in Postgres: full text (``websearch_to_tsquery`` + ``ts_rank_cd``) alone, or
hybrid with pgvector (HNSW, cosine), fused by reciprocal rank.

This module runs the rankings; their SQL is in ``store/retrieval_sql.py``, how they are fused
in ``store/retrieval_fusion.py``, and how the fused chunks become passages in
``store/retrieval_tidy.py``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from itertools import pairwise
from typing import cast

import structlog
from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from core.answers import Passage
from core.errors import ModelError
from core.ingest.pipeline import Embedder, embedding_input
from core.ingest.protocols import EmbedsAhead
from core.memo import Memo
from core.rerank import Reranker
from core.text import STOPWORDS
from store.coverage import content
from store.knowledge import vector_literal
from store.retrieval_fusion import HybridWeights, fuse
from store.retrieval_sql import (
    DETAILS,
    FILTERED,
    ITERATIVE,
    SEARCH,
    TEXT_QUERY,
    WALK,
    walk_breadth,
)
from store.retrieval_tidy import Hit, collapse, shingles_of, tidy
from store.vector_index import IndexForms, VectorIndex

__all__ = [
    "FullTextRetriever",
    "HybridRetriever",
    "HybridWeights",
    "adjacent_pairs",
    "any_word_query",
    "collapse",
    "tidy",
    "walk_breadth",
]

log = structlog.get_logger(__name__)

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MAX_WORDS = 32


def any_word_query(text: str) -> str:
    """A ``websearch_to_tsquery`` string matching any content word of ``text``.

    A question's words are ORed rather than ANDed: ranking rewards chunks that hold more
    of them, and a question with one unusual word still finds something.
    """
    words = [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in STOPWORDS]
    unique = list(dict.fromkeys(words))[:_MAX_WORDS]
    return " or ".join(unique)


def adjacent_pairs(text: str) -> list[str]:
    """Each two content words of ``text`` that stand together, with the stopwords between
    them (at most two): ``phraseto_tsquery`` keeps their distance."""
    words = [m.group(0).lower() for m in _WORD.finditer(text)]
    content = [i for i, w in enumerate(words) if w not in STOPWORDS]
    pairs = [" ".join(words[a:b + 1]) for a, b in pairwise(content) if b - a <= 3]
    return list(dict.fromkeys(pairs))[:_MAX_WORDS]



class FullTextRetriever:
    """Ranks chunks by cover density of the question's words; titles and sections weigh more."""

    def __init__(self, pool: AsyncConnectionPool, *, candidates: int = 40) -> None:
        self._pool = pool
        self._candidates = candidates

    async def search(
        self, query: str, *, k: int, domains: Sequence[str] = (), sources: Sequence[str] = (),
        principals: Sequence[str] = (),
    ) -> list[Passage]:
        """``principals``: the asker's (store/audiences.py); public documents only without."""
        text = any_word_query(query)
        if not text:
            return []
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Passage))
            await cur.execute(
                SEARCH,
                {
                    "query": text,
                    "domains": list(domains),
                    "sources": list(sources),
                    "principals": list(principals),
                    "limit": max(k, self._candidates),
                },
            )
            rows = await cur.fetchall()
        return collapse(rows, k)

    def prepare(self, query: str) -> None:
        """Nothing to start ahead: full text needs no vector."""


class HybridRetriever:
    """Full text and pgvector together, fused by reciprocal rank, then tidied up.

    The two rankings run at the same time, each on its own pooled connection (each is one
    core's work, so a question costs about the slower of the two, not their sum). Adjacent
    chunks of one document that both rank are merged into one passage (their overlap said
    once, the page range spanning both); near duplicates from different documents are dropped;
    each document gives at most ``per_document`` passages. Without an embedder, or when the
    query cannot be embedded, full text answers alone.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        embedder: Embedder | None = None,
        candidates: int = 40,
        weights: HybridWeights | None = None,
        per_document: int = 5,
        ef_search: int = 0,
        exact_factor: int = 10,
        text_budget: int = 1000,
        distinct_first: bool = False,
        repeat_decay: float = 1.0,
        reranker: Reranker | None = None,
        rerank_candidates: int = 20,
    ) -> None:
        self._pool = pool
        self._embedder = embedder
        self._candidates = candidates
        self._weights = weights or HybridWeights()
        # Who requests a question's vector ahead (``prepare``): None when nothing would use it.
        self._ahead = (
            embedder.ahead
            if self._weights.vector > 0 and isinstance(embedder, EmbedsAhead)
            else None
        )
        self._per_document = per_document
        self._ef_search = ef_search
        self._exact_factor = exact_factor
        self._text_budget = text_budget
        self._distinct_first = distinct_first
        self._repeat_decay = repeat_decay
        self._reranker = reranker
        self._rerank_candidates = rerank_candidates
        self._forms = IndexForms()
        self._vector_sql: dict[tuple[VectorIndex, bool], str] = {}
        # Each candidate chunk's word trigrams for the near-duplicate checks, read once for
        # every question that retrieves it (docs/benchmarks.md, latency, round fourteen).
        self._shingles = Memo(shingles_of)

    def prepare(self, query: str) -> None:
        """The question's vector is requested now, while the question is recorded and
        planned; the search (and the verified answer's match) then waits for that request."""
        if self._ahead is not None:
            self._ahead(query)

    async def search(
        self, query: str, *, k: int, domains: Sequence[str] = (), sources: Sequence[str] = (),
        principals: Sequence[str] = (),
    ) -> list[Passage]:
        """``principals``: the asker's (store/audiences.py); public documents only without."""
        pool = max(k * 2, self._candidates)
        words = any_word_query(query).replace(" or ", " ")
        params: dict[str, object] = {
            "words": words,
            "phrases": adjacent_pairs(query),
            "domains": list(domains),
            "sources": list(sources),
            "principals": list(principals),
            "pool": pool,
            "budget": self._text_budget,
            "content": content(query),
        }
        vector = await self._query_vector(query) if self._weights.vector > 0 else None
        if vector is not None:
            assert self._embedder is not None
            params.update(
                vector=vector_literal(vector), model=self._embedder.model, dimensions=len(vector)
            )
        runs = []
        if self._weights.text > 0 and words:
            runs.append(self._run(params))
        if vector is not None:
            runs.append(self._run(params, self._walk(domains, sources)))
        if not runs:
            return []
        ranked = await asyncio.gather(*runs)
        fused, scores = fuse([hit for hits in ranked for hit in hits], self._weights,
                             self._repeat_decay)
        if self._reranker is not None:
            fused = await self._rerank(self._reranker, query, fused)
        return tidy(fused, scores, k, self._per_document, distinct_first=self._distinct_first,
                    content=cast(str, params["content"]), shingles=self._shingles)

    async def _rerank(self, reranker: Reranker, query: str, hits: list[Hit]) -> list[Hit]:
        """The best ``rerank_candidates`` hits in the reranker's order, the rest after them
        as fused; the fused order as it was when the reranker fails."""
        head, tail = hits[: self._rerank_candidates], hits[self._rerank_candidates :]
        texts = [embedding_input(h.title, h.section, h.text) for h in head]
        try:
            order = await reranker.rerank(query, texts)
        except ModelError as exc:
            log.warning("rerank_failed", error=str(exc))
            return hits
        chosen = [head[i] for i, _ in order]
        chosen += [h for i, h in enumerate(head) if i not in {j for j, _ in order}]
        return chosen + tail

    async def vector_ranking(
        self, vector: Sequence[float], *, pool: int, domains: Sequence[str] = (),
        sources: Sequence[str] = (), principals: Sequence[str] = (),
    ) -> list[int]:
        """The vector ranking's chunk ids, nearest first, for a precomputed ``vector`` (for
        benchmarks: recall against an exact search)."""
        assert self._embedder is not None
        params: dict[str, object] = {
            "domains": list(domains), "sources": list(sources), "pool": pool, "content": "",
            "principals": list(principals), "vector": vector_literal(vector), "model": self._embedder.model,
            "dimensions": len(vector),
        }
        hits = await self._run(params, self._walk(domains, sources))
        return [hit.chunk_id for hit in sorted(hits, key=lambda h: h.rank)]

    def _walk(self, domains: Sequence[str], sources: Sequence[str]) -> dict[str, object]:
        return {"fixed": self._ef_search, "filtered": bool(domains or sources),
                "exact_factor": self._exact_factor}

    async def _run(
        self, params: dict[str, object], walk: dict[str, object] | None = None
    ) -> list[Hit]:
        """One ranking with its chunks' details: full text, or the vector walk with ``walk``'s
        breadth settings. One statement, one round trip.

        Never prepared: psycopg prepares a statement run five times, and Postgres may then
        switch to a generic plan, which for these statements took 1.5 to 2 times as long
        (docs/benchmarks.md, retrieval latency). Each question is planned for its own words
        and vector.
        """
        async with self._pool.connection() as conn:
            if walk is None:
                query = TEXT_QUERY
            else:
                query = await self._vector_query(
                    conn, cast(int, params["dimensions"]), bool(walk["filtered"])
                )
                params = {**params, **walk}
            cur = conn.cursor(row_factory=class_row(Hit))
            await cur.execute(query, params, prepare=False)
            return await cur.fetchall()

    async def _vector_query(self, conn: AsyncConnection, dimensions: int, filtered: bool) -> str:
        """The vector ranking written with the distance the index serves; a filtered one
        walks on past its breadth where pgvector can, or ranks a small filter exactly."""
        form = await self._forms.get(conn, dimensions)
        query = self._vector_sql.get((form, filtered))
        if query is None:
            distance = form.distance("c.embedding", "vector")
            if filtered:
                iterative = ITERATIVE if form.iterative else ""
                branch = FILTERED.format(distance=distance, iterative=iterative)
            else:
                branch = WALK.format(distance=distance, iterative="")
            query = DETAILS.format(branch=branch)
            self._vector_sql[(form, filtered)] = query
        return query

    async def _query_vector(self, query: str) -> list[float] | None:
        if self._embedder is None or not query.strip():
            return None
        try:
            return (await self._embedder.embed([query]))[0]
        except ModelError as exc:
            log.warning("query_embedding_failed", error=str(exc))
            return None
