"""Full-text retrieval in Postgres (``websearch_to_tsquery`` + ``ts_rank_cd``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from core.answers import Passage
from core.text import STOPWORDS

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MAX_WORDS = 32

_SEARCH = """
SELECT c.id AS chunk_id, c.document_id, c.title, c.text, c.domain,
       ts_rank_cd(c.tsv, q.query, 32)::float8 AS score,
       d.url, d.path, c.section, c.page_start, c.page_end
FROM chunks c
JOIN documents d ON d.id = c.document_id,
     websearch_to_tsquery('english', %(query)s) AS q(query)
WHERE c.tsv @@ q.query
  AND (cardinality(%(domains)s::text[]) = 0 OR c.domain = ANY(%(domains)s::text[]))
ORDER BY score DESC, c.id
LIMIT %(limit)s
"""


def any_word_query(text: str) -> str:
    """A ``websearch_to_tsquery`` string matching any content word of ``text``.

    A question's words are ORed rather than ANDed: ranking rewards chunks that hold more
    of them, and a question with one unusual word still finds something.
    """
    words = [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in STOPWORDS]
    unique = list(dict.fromkeys(words))[:_MAX_WORDS]
    return " or ".join(unique)


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

    async def search(self, query: str, *, k: int, domains: Sequence[str] = ()) -> list[Passage]:
        text = any_word_query(query)
        if not text:
            return []
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Passage))
            await cur.execute(
                _SEARCH,
                {"query": text, "domains": list(domains), "limit": max(k, self._candidates)},
            )
            rows = await cur.fetchall()
        return collapse(rows, k)
