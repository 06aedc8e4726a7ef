"""Retrieval in Postgres: full text (``websearch_to_tsquery`` + ``ts_rank_cd``) alone, or
hybrid with pgvector (HNSW, cosine), fused by reciprocal rank."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import cast

import structlog
from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from core.answers import Passage
from core.errors import ModelError
from core.ingest.pipeline import Embedder, embedding_input
from core.rerank import Reranker
from core.text import STOPWORDS
from store.audiences import AUDIENCE_FILTER
from store.knowledge import vector_literal
from store.vector_index import IndexForms, VectorIndex

log = structlog.get_logger(__name__)

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SHINGLE = re.compile(r"\w+")
_MAX_WORDS = 32
_NEAR_DUPLICATE = 0.8

_FILTERS = """
  AND (cardinality(%(domains)s::text[]) = 0 OR c.domain = ANY(%(domains)s::text[]))
  AND (cardinality(%(sources)s::text[]) = 0 OR c.document_id IN
       (SELECT id FROM documents WHERE source = ANY(%(sources)s::text[])))
""" + AUDIENCE_FILTER

_SEARCH = """
SELECT c.id AS chunk_id, c.document_id, c.title, c.text, c.domain,
       ts_rank_cd(c.tsv, q.query, 32)::float8 AS score,
       d.url, d.path, c.section, c.page_start, c.page_end, c.page AS main_page
FROM chunks c
JOIN documents d ON d.id = c.document_id,
     websearch_to_tsquery('english', %(query)s) AS q(query)
WHERE c.tsv @@ q.query
""" + _FILTERS + """
ORDER BY score DESC, c.id
LIMIT %(limit)s
"""

# Each branch picks its candidates by id only (cheap, index-driven); the few winners are then
# joined to their text and document once.
#
# Full text ranks like BM25: each of the question's lexemes adds its inverse document frequency
# (from lexeme_stats) times ts_rank's saturating, field-weighted term frequency (title 1.0,
# section 0.7, body 0.5). Rows are pulled in by the rarest lexemes only, up to a budget of
# matching chunks (%(budget)s): common words still add to a row's score, but a question made of
# everyday words does not make Postgres score a fifth of the index.
#
# Proximity: each two content words that stand together in the question (%(phrases)s: "prompt
# engineering", "ticket routing", stopwords between them kept as a distance) add half their
# lexemes' mean IDF times the pair's own ts_rank to a chunk that has them at that distance, so a
# chunk saying "prompt engineering" outranks one with "prompt" and "engineering" paragraphs apart
# (docs/benchmarks.md, retrieval quality). Matching a phrase reads positions, so only rows that
# have one of the pairs, among the words' best 3 x %(pool)s, are re-scored.
_TEXT_BRANCH = """
WITH n AS (
    SELECT greatest((SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass), 1)::float8
           AS total
), terms AS (
    SELECT t.lexeme, quote_literal(t.lexeme)::tsquery AS query,
           coalesce(s.chunks, 0) AS df,
           ln(1 + (n.total - coalesce(s.chunks, 0) + 0.5) / (coalesce(s.chunks, 0) + 0.5)) AS idf
    FROM unnest(tsvector_to_array(to_tsvector('english', %(words)s))) AS t(lexeme)
    CROSS JOIN n
    LEFT JOIN lexeme_stats s ON s.lexeme = t.lexeme
), pairs AS MATERIALIZED (
    SELECT p.query, (SELECT avg(t.idf) FROM terms t
                     WHERE t.lexeme = ANY(tsvector_to_array(to_tsvector('english', p.words)))) AS idf
    FROM (SELECT words, phraseto_tsquery('english', words) AS query
          FROM unnest(%(phrases)s::text[]) AS u(words)) p
    WHERE numnode(p.query) >= 3
), any_pair AS (
    SELECT string_agg(query::text, ' | ')::tsquery AS query FROM pairs
), matcher AS (
    SELECT string_agg(query::text, ' | ')::tsquery AS query
    FROM (SELECT query, sum(df) OVER (ORDER BY df, query::text) AS running,
                 row_number() OVER (ORDER BY df, query::text) AS n
          FROM terms) r
    WHERE n = 1 OR running <= %(budget)s
)
SELECT t.id, row_number() OVER (ORDER BY t.score DESC, t.id) AS rank, 'text' AS branch
FROM (SELECT u.id,
             u.score + CASE WHEN u.tsv @@ a.query THEN
                 (SELECT 0.5 * sum(p.idf * ts_rank('{0.5, 0.5, 0.7, 1.0}', u.tsv, p.query))
                  FROM pairs p WHERE u.tsv @@ p.query) ELSE 0 END AS score
      FROM any_pair a, (SELECT c.id, c.tsv,
                   (SELECT sum(w.idf * ts_rank('{0.5, 0.5, 0.7, 1.0}', c.tsv, w.query))
                    FROM terms w WHERE c.tsv @@ w.query) AS score
            FROM chunks c, matcher m
            WHERE c.tsv @@ m.query """ + _FILTERS + """
            ORDER BY score DESC, c.id LIMIT 3 * %(pool)s) u
      ORDER BY score DESC, u.id LIMIT %(pool)s) t
"""
# The HNSW walk's breadth (hnsw.ef_search). Unless fixed in settings, it follows the index's
# size: the narrowest walk that kept recall@10 >= 0.95 on realistic vectors was about 75 at
# 100,000 chunks and 280 at 1,000,000 (docs/benchmarks.md, retrieval latency), and
# 75 * (chunks / 100,000) ^ 0.57 passes through both. Never narrower than the candidates asked
# for. A filter applies to what the walk found, so a filtered walk is at least wide enough for
# the candidates to pass it: %(pool)s / the share of chunks the filter keeps (estimated by
# chunk_filter_share, store/migrations/0010): a domain of four needs no more than the plain
# walk, a source of 1 % the widest. At most 1,000 (pgvector's limit). The size is the
# planner's estimate.
_BREADTH = """(SELECT least(1000, greatest(
    %(pool)s,
    CASE WHEN %(fixed)s > 0 THEN %(fixed)s
         ELSE round(75 * power(greatest(t.reltuples, 10000) / 100000, 0.57)) END,
    CASE WHEN %(filtered)s
         THEN ceil(%(pool)s / greatest(0.001, chunk_filter_share(%(domains)s, %(sources)s)))
         ELSE 0 END
))::int::text FROM pg_class t WHERE t.oid = 'chunks'::regclass)"""
# The HNSW walk returns chunks nearest first; their rank is that order. Selecting the distance
# instead would read every candidate's vector back from TOAST (a random page each, a hundred per
# question): at a million chunks, with the vectors' TOAST not cached, 1.7x the time.
#
# The breadth is set by the statement itself: the uncorrelated sub-select runs once, as the
# plan's first step, before the index is walked, and is_local lasts for this statement (the
# pool runs in autocommit). No transaction, no second statement: one round trip.
_IN_SPACE = """
      AND EXISTS (SELECT 1 FROM embedding_space s
                  WHERE s.model = %(model)s AND s.dimensions = %(dimensions)s)"""
_WALK = """
SELECT v.id, v.rank, 'vector' AS branch
FROM unnest(ARRAY(
    SELECT c.id
    FROM chunks c
    WHERE c.embedding IS NOT NULL
      AND (SELECT set_config('hnsw.ef_search', """ + _BREADTH + """, true)) IS NOT NULL{iterative}
    """ + _IN_SPACE + _FILTERS + """
    ORDER BY {distance} LIMIT %(pool)s
)) WITH ORDINALITY AS v(id, rank)
"""
# pgvector 0.8: a filtered walk goes on until %(pool)s chunks pass the filter (or 20,000 were
# looked at). "relaxed_order" may return a few near-ties out of order; its recall was the
# better one (a million chunks, a source of 1 %, breadth 279: 0.93 against 0.90 "strict_order").
_ITERATIVE = """
      AND (SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)) IS NOT NULL"""
# A filter that keeps few chunks is ranked exactly instead: every chunk it keeps, by
# full-precision distance. "Few" is at most %(exact_factor)s times the walk's breadth (an exact
# ranking reads a chunk in about 4 us, a walk costs about 35 us per unit of breadth at a million
# chunks). There, a source of 1 % (10,000 chunks, breadth 1,000): exact 40 ms with recall@10
# 1.0; the walk 33 ms, recall 0.73 and fewer candidates than asked; iterating on pgvector 0.8,
# 50 ms and 0.95. A domain of four (250,000 chunks, breadth 279) is walked (docs/benchmarks.md).
#
# A filtered statement holds both rankings; the one-time condition _FEW (computed once, in a
# CTE, before either) lets exactly one run. cosine_distance() is the operator's function form, which no
# index serves. The exact ranking finds the filter's chunks through the domain and source
# indexes: a join, not _FILTERS' IN, since an IN under an OR cannot become a join (that plan
# read all million chunks: 1.3 s).
_FEW = """(SELECT greatest(t.reltuples, 0) * chunk_filter_share(%(domains)s, %(sources)s)
               <= %(exact_factor)s * """ + _BREADTH + """::int
        FROM pg_class t WHERE t.oid = 'chunks'::regclass)"""
_EXACT = """
SELECT v.id, v.rank, 'vector' AS branch
FROM unnest(ARRAY(
    SELECT c.id
    FROM documents d JOIN chunks c ON c.document_id = d.id
    WHERE c.embedding IS NOT NULL""" + _IN_SPACE + """
      AND (cardinality(%(domains)s::text[]) = 0 OR c.domain = ANY(%(domains)s::text[]))
      AND (cardinality(%(sources)s::text[]) = 0 OR d.source = ANY(%(sources)s::text[]))""" + AUDIENCE_FILTER + """
    ORDER BY cosine_distance(c.embedding, %(vector)s::vector) LIMIT %(pool)s
)) WITH ORDINALITY AS v(id, rank)
"""
_FILTERED = (
    "\nWITH f AS MATERIALIZED (SELECT " + _FEW + " AS few)" + _WALK
    + "WHERE NOT (SELECT few FROM f)\nUNION ALL" + _EXACT + "WHERE (SELECT few FROM f)\n"
)
_DETAILS = """
SELECT h.id AS chunk_id, h.branch, h.rank, c.document_id, c.ord, c.title, c.text, c.domain,
       d.url, d.path, c.section, c.page_start, c.page_end, c.page AS main_page
FROM ({branch}) h
JOIN chunks c ON c.id = h.id
JOIN documents d ON d.id = c.document_id
"""
_TEXT_QUERY = _DETAILS.format(branch=_TEXT_BRANCH)


async def walk_breadth(
    conn: AsyncConnection,
    *,
    pool: int,
    fixed: int = 0,
    domains: Sequence[str] = (),
    sources: Sequence[str] = (),
) -> int:
    """The ``hnsw.ef_search`` a question's vector ranking walks with (for benchmarks)."""
    params = {"pool": pool, "fixed": fixed, "filtered": bool(domains or sources),
              "domains": list(domains), "sources": list(sources)}
    cur = await conn.execute("SELECT " + _BREADTH, params)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


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


def collapse(passages: Sequence[Passage], k: int, per_document: int = 2) -> list[Passage]:
    """The best ``k`` passages with at most ``per_document`` from any one document."""
    taken: dict[int, int] = {}
    kept: list[Passage] = []
    for passage in passages:
        if taken.get(passage.document_id, 0) >= per_document:
            continue
        taken[passage.document_id] = taken.get(passage.document_id, 0) + 1
        kept.append(passage)
        if len(kept) == k:
            break
    return kept


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
                _SEARCH,
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


@dataclass(frozen=True, slots=True)
class HybridWeights:
    """How the two rankings are fused: ``weight / (rrf_k + rank)`` summed over rankings.

    A weight of 0 turns that ranking off (vectors alone, or full text alone).
    """

    text: float = 1.0
    vector: float = 0.7
    rrf_k: int = 20


@dataclass(slots=True)
class _Hit:
    chunk_id: int
    branch: str
    rank: int
    document_id: int
    ord: int
    title: str
    text: str
    domain: str
    url: str | None
    path: str | None
    section: str | None
    page_start: int | None
    page_end: int | None
    main_page: int | None


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
        weights: HybridWeights = HybridWeights(),
        per_document: int = 5,
        ef_search: int = 0,
        exact_factor: int = 10,
        text_budget: int = 1000,
        distinct_first: bool = False,
        repeat_decay: float = 0.5,
        reranker: Reranker | None = None,
        rerank_candidates: int = 20,
    ) -> None:
        self._pool = pool
        self._embedder = embedder
        self._candidates = candidates
        self._weights = weights
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
        fused, scores = self._fuse([hit for hits in ranked for hit in hits])
        if self._reranker is not None:
            fused = await self._rerank(self._reranker, query, fused)
        return tidy(fused, scores, k, self._per_document, distinct_first=self._distinct_first)

    async def _rerank(self, reranker: Reranker, query: str, hits: list[_Hit]) -> list[_Hit]:
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
            "domains": list(domains), "sources": list(sources), "pool": pool,
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
    ) -> list[_Hit]:
        """One ranking with its chunks' details: full text, or the vector walk with ``walk``'s
        breadth settings. One statement, one round trip.

        Never prepared: psycopg prepares a statement run five times, and Postgres may then
        switch to a generic plan, which for these statements took 1.5 to 2 times as long
        (docs/benchmarks.md, retrieval latency). Each question is planned for its own words
        and vector.
        """
        async with self._pool.connection() as conn:
            if walk is None:
                query = _TEXT_QUERY
            else:
                query = await self._vector_query(
                    conn, cast(int, params["dimensions"]), bool(walk["filtered"])
                )
                params = {**params, **walk}
            cur = conn.cursor(row_factory=class_row(_Hit))
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
                iterative = _ITERATIVE if form.iterative else ""
                branch = _FILTERED.format(distance=distance, iterative=iterative)
            else:
                branch = _WALK.format(distance=distance, iterative="")
            query = _DETAILS.format(branch=branch)
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

    def _fuse(self, hits: Sequence[_Hit]) -> tuple[list[_Hit], dict[int, float]]:
        """Chunks best first by reciprocal-rank fusion, a document's further chunks decayed,
        and each chunk's fused score."""
        weight = {"text": self._weights.text, "vector": self._weights.vector}
        scores: dict[int, float] = {}
        first: dict[int, _Hit] = {}
        for hit in hits:
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight[hit.branch] / (
                self._weights.rrf_k + hit.rank
            )
            first.setdefault(hit.chunk_id, hit)
        ranked = sorted(first.values(), key=lambda h: (-scores[h.chunk_id], h.chunk_id))
        if self._repeat_decay < 1.0:
            # A document's n-th chunk weighs decay^(n-1): a second passage of one document
            # must rank clearly better than another document's first to come before it.
            count: dict[int, int] = {}
            for hit in ranked:
                n = count.get(hit.document_id, 0)
                count[hit.document_id] = n + 1
                scores[hit.chunk_id] *= self._repeat_decay**n
            ranked.sort(key=lambda h: (-scores[h.chunk_id], h.chunk_id))
        return ranked, scores


def tidy(
    ranked: Sequence[_Hit], scores: dict[int, float], k: int, per_document: int,
    *, distinct_first: bool = True,
) -> list[Passage]:
    """The best ``k`` passages: adjacent chunks of a document merged (three at most), chunks
    overlapping a better passage of their document or copying one of another dropped, at most
    ``per_document`` from one document, and a document's further passages only in the slots
    that other documents leave free (after them).

    A merged passage keeps its better chunk's score: merging tidies, it does not reorder.
    """
    kept: list[tuple[_Hit, set[int]]] = []
    at: dict[tuple[int, int], int] = {}  # (document, ord) -> index in kept
    per: dict[int, int] = {}
    seen: list[set[str]] = []  # word trigrams of each kept passage
    pieces: list[set[str]] = []  # word trigrams of each chunk shown, merged or not
    queue = list(ranked)
    waiting: set[int] = set()
    for hit in queue:  # grows while iterating: deferred hits are retried at the end
        key = hit.document_id
        neighbour = at.get((key, hit.ord - 1), at.get((key, hit.ord + 1)))
        if neighbour is not None and len(kept[neighbour][1]) < 3:
            joined, ords = kept[neighbour]
            kept[neighbour] = (_join(joined, hit), ords | {hit.ord})
            at[(key, hit.ord)] = neighbour
            words = _shingles(hit.text)
            seen[neighbour] |= words
            pieces.append(words)
            continue
        if len(kept) == k or per.get(key, 0) >= per_document:
            continue
        if distinct_first and key in per and hit.chunk_id not in waiting:
            # Distinct documents first: a second passage of a document shown already would
            # push another document out of the k (docs/benchmarks.md, retrieval quality).
            waiting.add(hit.chunk_id)
            queue.append(hit)
            continue
        words = _shingles(hit.text)
        # Within a document a chunk overlapping a kept passage adds nothing; across documents
        # only a copy of a chunk shown does (a short section quoted in a longer one still counts).
        if any(
            _contained(words, seen[i]) >= _NEAR_DUPLICATE
            for i, (passage, _) in enumerate(kept)
            if passage.document_id == key
        ) or any(_jaccard(words, other) >= _NEAR_DUPLICATE for other in pieces):
            continue
        seen.append(set(words))
        pieces.append(words)
        per[key] = per.get(key, 0) + 1
        at[(key, hit.ord)] = len(kept)
        kept.append((hit, {hit.ord}))
    return [
        Passage(
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
            title=hit.title,
            text=hit.text,
            domain=hit.domain,
            score=scores[hit.chunk_id],
            url=hit.url,
            path=hit.path,
            section=hit.section,
            page_start=hit.page_start,
            page_end=hit.page_end,
            main_page=hit.main_page,
        )
        for hit, _ in kept
    ]


def _join(a: _Hit, b: _Hit) -> _Hit:
    """Two adjacent chunks as one: in document order, their shared overlap written once."""
    first, second = (a, b) if a.ord < b.ord else (b, a)
    text = first.text + _rest_after_overlap(first.text, second.text)
    pages = [p for p in (first.page_start, second.page_start, first.page_end, second.page_end) if p]
    return replace(
        a,
        text=text,
        section=a.section or b.section,
        page_start=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
    )


def _rest_after_overlap(head: str, tail: str, longest: int = 400) -> str:
    for size in range(min(len(head), len(tail), longest), 20, -1):
        if head.endswith(tail[:size]):
            return tail[size:]
    return "\n\n" + tail


def _shingles(text: str) -> set[str]:
    words = _SHINGLE.findall(text.lower())
    return {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _contained(part: set[str], whole: set[str]) -> float:
    """How much of ``part`` (word trigrams) is already in ``whole``."""
    return len(part & whole) / len(part) if part else 1.0
