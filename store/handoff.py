"""Hand-offs (``core.handoff.HandoffStore``): one row per answer and person in ``handoffs``."""

from __future__ import annotations

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from core.handoff import HandoffSubject

_SUBJECT = """
SELECT a.id AS message_id, a.conversation_id,
       coalesce((SELECT q.text FROM messages q
                 WHERE q.conversation_id = a.conversation_id AND q.role = 'user' AND q.id < a.id
                 ORDER BY q.id DESC LIMIT 1), '') AS question,
       a.text AS answer, a.status, a.route -> 'domains' ->> 0 AS domain,
       c.platform, c.workspace_id, c.channel_id, c.thread_id
FROM messages a JOIN conversations c ON c.id = a.conversation_id
WHERE a.id = %s AND a.role = 'assistant'
"""


class PgHandoffs:
    """The answers people asked a person to take over."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def subject(self, message_id: int) -> HandoffSubject | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(HandoffSubject))
            await cur.execute(_SUBJECT, (message_id,))
            return await cur.fetchone()

    async def claim(self, message_id: int, user_id: int, destination: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """INSERT INTO handoffs (message_id, user_id, destination) VALUES (%s, %s, %s)
                   ON CONFLICT (message_id, user_id) DO NOTHING""",
                (message_id, user_id, destination),
            )
            return cur.rowcount == 1

    async def email(self, user_id: int) -> str | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT email FROM users WHERE id = %s", (user_id,))
            row = await cur.fetchone()
        return str(row[0]) if row is not None and row[0] else None

    async def arrived(self, message_id: int, user_id: int, destination: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """UPDATE handoffs
                   SET destination = CASE WHEN destination = '' THEN %(d)s
                                          ELSE destination || '+' || %(d)s END
                   WHERE message_id = %(m)s AND user_id = %(u)s""",
                {"d": destination, "m": message_id, "u": user_id},
            )

    async def release(self, message_id: int, user_id: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM handoffs WHERE message_id = %s AND user_id = %s",
                (message_id, user_id),
            )
