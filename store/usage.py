"""What the assistant's answers cost, summed per person and per day (the ``usage_daily`` view)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """One person's answers on one UTC day."""

    user_id: int | None
    day: date
    answers: int
    not_complete: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    avg_ttft_ms: float | None
    avg_total_ms: float | None


class PgUsage:
    """Reads the per-person, per-day usage totals."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def daily(
        self, *, since: date, until: date | None = None, user_id: int | None = None
    ) -> list[DailyUsage]:
        """Rows for days in [since, until] (until: today), one person's when ``user_id`` is given,
        newest day first, then by cost."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(DailyUsage))
            await cur.execute(
                """SELECT user_id, day, answers, not_complete, input_tokens, output_tokens,
                          cost_usd, avg_ttft_ms, avg_total_ms
                   FROM usage_daily
                   WHERE day >= %(since)s
                     AND (%(until)s::date IS NULL OR day <= %(until)s::date)
                     AND (%(user)s::bigint IS NULL OR user_id = %(user)s::bigint)
                   ORDER BY day DESC, cost_usd DESC, user_id""",
                {"since": since, "until": until, "user": user_id},
            )
            return await cur.fetchall()
