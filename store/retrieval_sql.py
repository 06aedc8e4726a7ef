"""The SQL of retrieval: the full-text ranking (BM25-like, with proximity), the pgvector walk
(its breadth, filtered and exact forms) and the join of the winners to their details.

Statements only, and the one helper that reads the walk's breadth; the policy that runs and
fuses them is in ``store/retrieval.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import AsyncConnection

from store.audiences import AUDIENCE_FILTER

FILTERS = """
  AND (cardinality(%(domains)s::text[]) = 0 OR c.domain = ANY(%(domains)s::text[]))
  AND (cardinality(%(sources)s::text[]) = 0 OR c.document_id IN
       (SELECT id FROM documents WHERE source = ANY(%(sources)s::text[])))
""" + AUDIENCE_FILTER

SEARCH = """
SELECT c.id AS chunk_id, c.document_id, c.title, c.text, c.domain,
       ts_rank_cd(c.tsv, q.query, 32)::float8 AS score,
       d.url, d.path, c.section, c.page_start, c.page_end, c.page AS main_page
FROM chunks c
JOIN documents d ON d.id = c.document_id,
     websearch_to_tsquery('english', %(query)s) AS q(query)
WHERE c.tsv @@ q.query
""" + FILTERS + """
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
            WHERE c.tsv @@ m.query """ + FILTERS + """
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
WALK = """
SELECT v.id, v.rank, 'vector' AS branch
FROM unnest(ARRAY(
    SELECT c.id
    FROM chunks c
    WHERE c.embedding IS NOT NULL
      AND (SELECT set_config('hnsw.ef_search', """ + _BREADTH + """, true)) IS NOT NULL{iterative}
    """ + _IN_SPACE + FILTERS + """
    ORDER BY {distance} LIMIT %(pool)s
)) WITH ORDINALITY AS v(id, rank)
"""
# pgvector 0.8: a filtered walk goes on until %(pool)s chunks pass the filter (or 20,000 were
# looked at). "relaxed_order" may return a few near-ties out of order; its recall was the
# better one (a million chunks, a source of 1 %, breadth 279: 0.93 against 0.90 "strict_order").
ITERATIVE = """
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
# indexes: a join, not FILTERS' IN, since an IN under an OR cannot become a join (that plan
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
FILTERED = (
    "\nWITH f AS MATERIALIZED (SELECT " + _FEW + " AS few)" + WALK
    + "WHERE NOT (SELECT few FROM f)\nUNION ALL" + _EXACT + "WHERE (SELECT few FROM f)\n"
)
# The winners' details, and what each holds of the question's content words (%(content)s,
# store/coverage.content): the coverage check (store/coverage.py) reads it from the passages
# instead of asking again. Each lexeme weighs its IDF, BM25's form, as in the text branch. The
# lexemes and weights come once per ranking (its first row); each row says which it holds as
# bits of one number, the n-th lexeme the n-th bit. A question of more than 62 distinct content
# lexemes gets none (the check then asks the database).
_QUESTION = """(
    SELECT CASE WHEN count(*) <= 62 THEN coalesce(array_agg(t.lexeme ORDER BY t.lexeme),
                                                  ARRAY[]::text[]) END AS lexemes,
           coalesce(array_agg(ln(1 + (n.total - coalesce(s.chunks, 0) + 0.5)
                                     / (coalesce(s.chunks, 0) + 0.5)) ORDER BY t.lexeme),
                    ARRAY[]::float8[]) AS weights
    FROM unnest(tsvector_to_array(to_tsvector('english', %(content)s))) AS t(lexeme)
    CROSS JOIN (SELECT greatest((SELECT reltuples FROM pg_class
                                 WHERE oid = 'chunks'::regclass), 1)::float8 AS total) n
    LEFT JOIN lexeme_stats s ON s.lexeme = t.lexeme
) q"""
DETAILS = """
SELECT h.id AS chunk_id, h.branch, h.rank, c.document_id, c.ord, c.title, c.text, c.domain,
       d.url, d.path, c.section, c.page_start, c.page_end, c.page AS main_page,
       CASE WHEN h.rank = 1 THEN q.lexemes END AS question_lexemes,
       CASE WHEN h.rank = 1 AND q.lexemes IS NOT NULL THEN q.weights END AS question_weights,
       (SELECT coalesce(bit_or(1::int8 << (u.n - 1)::int), 0) FROM unnest(q.lexemes)
               WITH ORDINALITY AS u(lexeme, n)
        WHERE c.tsv @@ quote_literal(u.lexeme)::tsquery) AS found_bits
FROM ({branch}) h
JOIN chunks c ON c.id = h.id
JOIN documents d ON d.id = c.document_id
CROSS JOIN """ + _QUESTION + "\n"
TEXT_QUERY = DETAILS.format(branch=_TEXT_BRANCH)


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

