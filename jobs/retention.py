"""retention: delete what is older than the configured policy, a small batch at a time.

Each batch is one short statement (an index range of at most ``batch_size`` rows, skipping rows
someone else holds), so live traffic never waits behind a long delete. Chunks need no sweep of
their own: they belong to documents (``ON DELETE CASCADE``), and reingest removes documents
whose files or pages vanished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from core.settings import Settings
from jobs.registry import JobResult


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days to keep each kind of row; 0 keeps it for ever."""

    conversations_days: int = 365
    feedback_days: int = 365
    inbox_days: int = 7
    job_runs_days: int = 90
    batch_size: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            conversations_days=settings.retention_days,
            feedback_days=settings.feedback_retention_days,
            inbox_days=settings.inbox_retention_days,
            job_runs_days=settings.job_runs_retention_days,
            batch_size=settings.retention_batch_size,
        )


# (what is counted, table, the condition that makes a row old). Order matters: feedback and
# messages go before the conversations they belong to, which go only once they are empty.
_SWEEPS: tuple[tuple[str, str, str, str], ...] = (
    ("feedback", "feedback", "feedback_days", "created_at < %(cutoff)s"),
    ("messages", "messages", "conversations_days", "created_at < %(cutoff)s"),
    (
        "conversations",
        "conversations",
        "conversations_days",
        (
            "updated_at < %(cutoff)s AND NOT EXISTS "
            "(SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id)"
        ),
    ),
    ("summaries", "conversation_summaries", "conversations_days", "updated_at < %(cutoff)s"),
    ("inbox", "inbox", "inbox_days", "updated_at < %(cutoff)s AND state IN ('done', 'failed')"),
    ("job_runs", "job_runs", "job_runs_days", "started_at < %(cutoff)s AND outcome <> 'running'"),
)

_KEYS = {"conversation_summaries": "conversation_id"}
_ORDER = {
    "feedback": "created_at",
    "messages": "created_at",
    "conversations": "updated_at",
    "conversation_summaries": "updated_at",
    "inbox": "updated_at",
    "job_runs": "started_at",
}


class Retention:
    """The retention job. Call it (no arguments) to run once."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        policy: RetentionPolicy,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._policy = policy
        self._clock = clock

    async def __call__(self) -> JobResult:
        now = self._clock()
        counts: dict[str, int] = {}
        for label, table, days_field, condition in _SWEEPS:
            days = getattr(self._policy, days_field)
            if days <= 0:
                continue
            counts[label] = await self._sweep(table, condition, now - timedelta(days=days))
        deleted = ", ".join(f"{n} {label}" for label, n in counts.items()) or "nothing (kept for ever)"
        return JobResult(summary=f"Deleted {deleted}.", counts=counts)

    async def _sweep(self, table: str, condition: str, cutoff: datetime) -> int:
        key = _KEYS.get(table, "id")
        statement = sql.SQL(
            """DELETE FROM {table} WHERE {key} IN (
                   SELECT {key} FROM {table} WHERE {condition}
                   ORDER BY {order} LIMIT %(batch)s FOR UPDATE SKIP LOCKED)"""
        ).format(
            table=sql.Identifier(table),
            key=sql.Identifier(key),
            condition=sql.SQL(condition),  # fixed text above, never from input
            order=sql.Identifier(_ORDER[table]),
        )
        total = 0
        while True:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    statement, {"cutoff": cutoff, "batch": self._policy.batch_size}
                )
                deleted = cur.rowcount
            total += deleted
            if deleted < self._policy.batch_size:
                return total
            await asyncio.sleep(0)  # let live requests have the loop between batches
