"""Usage per UTC day and domain, for ``stats csv`` (``core.commands.stats_csv.DailyReport``)."""

from __future__ import annotations

from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from core.commands.stats_csv import DailyUsage

# Each question with the answer that followed it (the first assistant message after it in its
# conversation, if any); every figure of a row is a count or sum over these pairs.
_DAILY = """
WITH asked AS (
    SELECT (q.created_at AT TIME ZONE 'UTC')::date AS day,
           coalesce(a.route -> 'domains' ->> 0, 'none') AS domain,
           a.id AS answer_id, a.status, a.input_tokens, a.output_tokens, a.cost_usd
    FROM messages q
    LEFT JOIN LATERAL (SELECT m.* FROM messages m
                       WHERE m.conversation_id = q.conversation_id AND m.role = 'assistant'
                         AND m.id > q.id
                       ORDER BY m.id LIMIT 1) a ON true
    WHERE q.role = 'user' AND q.created_at >= %(since)s AND q.created_at < %(until)s
)
SELECT day, domain,
       count(*)::integer AS questions,
       count(answer_id) FILTER (WHERE status NOT IN ('failed', 'not_found'))::integer AS answered,
       count(*) FILTER (WHERE status = 'not_found')::integer AS declined,
       count(*) FILTER (WHERE status = 'verified')::integer AS verified,
       coalesce(sum((SELECT count(*) FROM feedback f
                     WHERE f.message_id = answer_id AND f.rating = 1)), 0)::integer AS thumbs_up,
       coalesce(sum((SELECT count(*) FROM feedback f
                     WHERE f.message_id = answer_id AND f.rating = -1)), 0)::integer
           AS thumbs_down,
       coalesce(sum((SELECT count(*) FROM handoffs h WHERE h.message_id = answer_id)), 0)::integer
           AS handoffs,
       coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(cost_usd), 0)::float8 AS cost_usd
FROM asked
GROUP BY day, domain
ORDER BY day, domain
"""


class PgDailyReport:
    """Counts over ``messages``, ``feedback`` and ``handoffs``, one row per day and domain."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def daily(self, since: datetime, until: datetime) -> list[DailyUsage]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(DailyUsage))
            await cur.execute(_DAILY, {"since": since, "until": until})
            return await cur.fetchall()
