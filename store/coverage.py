"""Coverage measured in Postgres, with the same stemming and the same inverse document
frequencies (``lexeme_stats``) that full-text retrieval ranks with."""

from __future__ import annotations

import re
from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool

from core.answers import Passage
from core.coverage import Coverage
from core.text import ASKING, STOPWORDS

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
# "FY2022", "Q3", "H1": a period's label glued to its number; documents mostly write the
# number alone ("fiscal 2022", "third quarter"), so the number is what is looked for.
# Glued to each other too: "Q22023" is the second quarter of 2023, "FY2023Q1" its first.
_PERIOD = re.compile(r"^(?:fy|cy|[qh][1-4](?=\d{4}$)|q|h)?(\d{4})(?:[qh][1-4])?$|^(?:fy|q|h|cy)(\d{1,4})$",
                     re.IGNORECASE)


def content(question: str) -> str:
    """The words of ``question`` that say what it is about."""
    kept = []
    for word in _WORD.findall(question):
        low = word.lower()
        if low in STOPWORDS or low in ASKING:
            continue
        period = _PERIOD.match(low)
        kept.append(next(g for g in period.groups() if g) if period else word)
    return " ".join(kept)

# Each lexeme of the question weighs its IDF (BM25's form, as in store/retrieval.py); a word
# the index has never seen weighs most. The passages are read together, each with its title
# and section: a question about two things may find them in two passages.
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
), found AS (
    SELECT to_tsvector('english', %(text)s) AS tsv
)
SELECT (sum(t.idf) FILTER (WHERE f.tsv @@ t.query) / nullif(sum(t.idf), 0))::float8
FROM terms t CROSS JOIN found f
"""


class PgCoverageJudge:
    """Measures coverage from what the passages carry (hybrid retrieval measures it as it
    reads them), or else with one statement: no table is written, nothing is cached."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def measure(self, question: str, passages: Sequence[Passage]) -> Coverage:
        words = content(question)
        carried = Coverage.carried(words, passages)
        if carried is not None:
            return carried  # retrieval measured it (store/retrieval_sql.DETAILS)
        text = "\n".join(
            part for p in passages for part in (p.title, p.section or "", p.text) if part
        )
        if not text:
            return Coverage.none()
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                _SHARE, {"question": words, "text": text}, prepare=False
            )
            row = await cur.fetchone()
        # No content word at all ("hello?") is nothing found.
        return Coverage(share=float(row[0]) if row and row[0] is not None else 0.0)
