"""Questions the documents did not cover: the answers stored with status ``not_found``,
each with the question it declined, newest first — the admins' list of what to write down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

_RECENT = """
SELECT q.text AS question, a.created_at AS declined_at, a.route->'domains'->>0 AS domain,
       a.conversation_id, a.id AS message_id
FROM messages a
JOIN LATERAL (SELECT u.text FROM messages u
              WHERE u.conversation_id = a.conversation_id AND u.role = 'user' AND u.id < a.id
              ORDER BY u.id DESC LIMIT 1) q ON true
WHERE a.role = 'assistant' AND a.status = 'not_found' AND (%(since)s::timestamptz IS NULL OR a.created_at >= %(since)s)
ORDER BY a.created_at DESC, a.id DESC
LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class DeclinedQuestion:
    """One question answered with "I couldn't find that"."""

    question: str
    declined_at: datetime
    domain: str | None
    conversation_id: int
    message_id: int


class DeclinedQuestions:
    """Reads the declined questions from ``messages``."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def recent(
        self, *, since: datetime | None = None, limit: int = 50
    ) -> list[DeclinedQuestion]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(DeclinedQuestion))
            await cur.execute(_RECENT, {"since": since, "limit": limit})
            return await cur.fetchall()
