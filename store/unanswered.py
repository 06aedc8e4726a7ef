"""What went unanswered (``core.commands.unanswered.UnansweredReader``): declined answers
(status ``not_found``), 👎 with their reasons, and hand-offs, grouped by meaning.

Grouping is the weekly-prompts job's: embeddings compared in Postgres when configured, word
vectors otherwise, then average-linkage clustering weighted by how often each was asked.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import structlog
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from core.clustering import average_linkage, graph_from_pairs, sparse_graph, word_vectors
from core.commands.unanswered import UnansweredGroup, UnansweredQuestion
from core.errors import ModelError
from core.verified.answers import QuestionEmbedder
from store.similarity import similar_pairs

log = structlog.get_logger(__name__)

# Groups merge above this average similarity. Higher than weekly-prompts' (0.2 words, 0.6
# embeddings): a verified answer covers one question, so "leave in Lisbon" and "leave in
# Berlin" should stay two groups, where a suggested prompt may cover both.
WORD_SIMILARITY = 0.45
EMBEDDING_SIMILARITY = 0.7
# The newest rows read per window: enough for a month of a large company's misses.
MAX_ROWS = 3000

# The question an answer answered: the latest user message before it in its conversation.
_QUESTION = """JOIN LATERAL (SELECT q.text, q.user_id FROM messages q
                WHERE q.conversation_id = a.conversation_id AND q.role = 'user' AND q.id < a.id
                ORDER BY q.id DESC LIMIT 1) q ON true"""

_ROWS = f"""
SELECT * FROM (
    SELECT q.text AS question, 'declined' AS kind, a.created_at AS at, q.user_id,
           a.route -> 'domains' ->> 0 AS domain, '{{}}'::text[] AS reasons, NULL AS comment
    FROM messages a {_QUESTION}
    WHERE a.role = 'assistant' AND a.status = 'not_found'
      AND a.created_at >= %(since)s AND a.created_at < %(until)s
    UNION ALL
    SELECT q.text, 'disliked', f.created_at, q.user_id, a.route -> 'domains' ->> 0,
           f.reasons, f.comment
    FROM feedback f JOIN messages a ON a.id = f.message_id {_QUESTION}
    WHERE f.rating = -1 AND f.created_at >= %(since)s AND f.created_at < %(until)s
    UNION ALL
    SELECT q.text, 'handed_off', h.created_at, q.user_id, a.route -> 'domains' ->> 0,
           '{{}}'::text[], NULL
    FROM handoffs h JOIN messages a ON a.id = h.message_id {_QUESTION}
    WHERE h.created_at >= %(since)s AND h.created_at < %(until)s
) unanswered
ORDER BY at DESC LIMIT %(limit)s
"""


def _key(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip("?.! ")


class PgUnanswered:
    """Reads and groups what went unanswered; ``embedder`` groups by meaning when given."""

    def __init__(self, pool: AsyncConnectionPool, *, embedder: QuestionEmbedder | None = None) -> None:
        self._pool = pool
        self._embedder = embedder

    async def questions(self, since: datetime, until: datetime) -> list[UnansweredQuestion]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(UnansweredQuestion))
            await cur.execute(_ROWS, {"since": since, "until": until, "limit": MAX_ROWS})
            return await cur.fetchall()

    async def groups(self, since: datetime, until: datetime, *, limit: int) -> list[UnansweredGroup]:
        rows = await self.questions(since, until)
        # The same words asked twice are one item, weighed by how often.
        index: dict[str, int] = {}
        texts: list[str] = []
        members: list[list[UnansweredQuestion]] = []
        for row in rows:
            key = _key(row.question)
            if key not in index:
                index[key] = len(texts)
                texts.append(" ".join(row.question.split()))
                members.append([])
            members[index[key]].append(row)
        if not texts:
            return []
        weights = [float(len(m)) for m in members]
        graph = await self._graph(texts)
        threshold = EMBEDDING_SIMILARITY
        if graph is None:
            graph, threshold = sparse_graph(word_vectors(texts), 0.0), WORD_SIMILARITY
        clusters = await asyncio.to_thread(
            average_linkage, graph, weights, threshold, tiebreak=texts
        )
        groups = [self._group([texts[i] for i in c.members], [members[i] for i in c.members])
                  for c in clusters]
        groups.sort(key=lambda g: (-g.count, -g.latest.timestamp(), g.question))
        return groups[:limit]

    async def _graph(self, texts: Sequence[str]) -> list[dict[int, float]] | None:
        if self._embedder is None or len(texts) < 2:
            return None
        try:
            vectors = await self._embedder.embed(list(texts))
        except ModelError as exc:
            log.warning("unanswered_grouped_by_words", error=str(exc))
            return None
        pairs = await similar_pairs(self._pool, vectors, threshold=EMBEDDING_SIMILARITY - 0.25)
        return graph_from_pairs(len(texts), pairs)

    @staticmethod
    def _group(texts: list[str], rows: list[list[UnansweredQuestion]]) -> UnansweredGroup:
        flat = [r for group in rows for r in group]
        kinds: Counter[str] = Counter(r.kind for r in flat)
        reasons: Counter[str] = Counter(reason for r in flat for reason in r.reasons)
        comments = [r.comment for r in sorted(flat, key=lambda r: r.at, reverse=True) if r.comment]
        domains = Counter(r.domain for r in flat if r.domain)
        return UnansweredGroup(
            question=texts[0],
            count=len(flat),
            people=len({r.user_id for r in flat if r.user_id is not None}),
            latest=max(r.at for r in flat),
            kinds=kinds,
            reasons=reasons,
            comments=comments,
            examples=texts[1:],
            domain=domains.most_common(1)[0][0] if domains else None,
        )
