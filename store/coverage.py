"""Coverage measured in Postgres, with the same stemming and the same inverse document
frequencies (``lexeme_stats``) that full-text retrieval ranks with."""

from __future__ import annotations

import re
from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool

from core.answers import Passage
from core.coverage import Coverage
from core.text import STOPWORDS

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
# How a question is asked, not what it is about: these never decide whether a passage is.
_ASKING = frozenset(
    "long often mean means meaning must may might happen happens possible able allowed "
    "way ways find explain describe give example difference".split()
)


def content(question: str) -> str:
    """The words of ``question`` that say what it is about."""
    return " ".join(
        w for w in _WORD.findall(question) if w.lower() not in STOPWORDS and w.lower() not in _ASKING
    )

# Each lexeme of the question weighs its IDF (BM25's form, as in store/retrieval.py); a word
# the index has never seen weighs most. A passage is read with its title and section.
_SHARE = """
WITH n AS (
    SELECT greatest((SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass), 1)::float8
           AS total
), terms AS (
    SELECT quote_literal(t.lexeme)::tsquery AS query,
           ln(1 + (n.total - coalesce(s.chunks, 0) + 0.5) / (coalesce(s.chunks, 0) + 0.5)) AS idf
    FROM unnest(tsvector_to_array(to_tsvector('english', %(question)s))) AS t(lexeme)
    CROSS JOIN n
    LEFT JOIN lexeme_stats s ON s.lexeme = t.lexeme
), passages AS (
    SELECT p.n, to_tsvector('english', p.text) AS tsv
    FROM unnest(%(texts)s::text[]) WITH ORDINALITY AS p(text, n)
)
SELECT p.n::int,
       coalesce(sum(t.idf) FILTER (WHERE p.tsv @@ t.query) / nullif(sum(t.idf), 0), 0)::float8
FROM passages p CROSS JOIN terms t
GROUP BY p.n
ORDER BY p.n
"""


class PgCoverageJudge:
    """Measures coverage with one statement: no table is written, nothing is cached."""

    def __init__(self, pool: AsyncConnectionPool, *, top: int = 3) -> None:
        self._pool = pool
        self._top = top

    async def measure(self, question: str, passages: Sequence[Passage]) -> Coverage:
        texts = [
            " ".join(part for part in (p.title, p.section or "", p.text) if part)
            for p in passages[: self._top]
        ]
        if not texts:
            return Coverage.none()
        async with self._pool.connection() as conn:
            cur = await conn.execute(_SHARE, {"question": content(question), "texts": texts}, prepare=False)
            rows = await cur.fetchall()
        if not rows:
            # No content word at all ("hello?"): nothing to find, nothing found.
            return Coverage.none()
        n, share = max(rows, key=lambda row: (row[1], -row[0]))
        return Coverage(share=float(share), best=int(n) - 1)
