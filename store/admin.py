"""What admins read and change: usage stats, the index, 👎 feedback, roles, the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.commands.stores import (
    AuditEntry,
    IndexedSource,
    KnownUser,
    NegativeFeedback,
    UsageStats,
    WatchedSource,
)
from store.sources import KnowledgeSources

_USER_COLUMNS = "id, platform, workspace_id, platform_user_id, display_name, email, role"


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


class PgAdminStore:
    """``core.commands.stores.AdminStore`` in Postgres. Every number ``stats`` returns is a
    plain count or aggregate over the rows of the window, so it can be checked by hand."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def stats(self, since: datetime, until: datetime) -> UsageStats:
        window = {"since": since, "until": until}
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT count(DISTINCT conversation_id),
                          count(*),
                          count(*) FILTER (WHERE role = 'user'),
                          count(DISTINCT user_id) FILTER (WHERE role = 'user'),
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft_ms)
                              FILTER (WHERE role = 'assistant'),
                          percentile_cont(0.95) WITHIN GROUP (ORDER BY ttft_ms)
                              FILTER (WHERE role = 'assistant'),
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY total_ms)
                              FILTER (WHERE role = 'assistant'),
                          percentile_cont(0.95) WITHIN GROUP (ORDER BY total_ms)
                              FILTER (WHERE role = 'assistant'),
                          coalesce(sum(cost_usd), 0),
                          coalesce(sum(input_tokens), 0),
                          coalesce(sum(output_tokens), 0)
                   FROM messages
                   WHERE created_at >= %(since)s AND created_at < %(until)s""",
                window,
            )
            totals = await cur.fetchone()
            assert totals is not None
            cur = await conn.execute(
                """SELECT count(*) FILTER (WHERE rating = 1), count(*) FILTER (WHERE rating = -1)
                   FROM feedback WHERE created_at >= %(since)s AND created_at < %(until)s""",
                window,
            )
            ratings = await cur.fetchone()
            assert ratings is not None
            cur = await conn.execute(
                """SELECT route -> 'domains' ->> 0 AS domain, count(*) AS n
                   FROM messages
                   WHERE role = 'assistant' AND created_at >= %(since)s AND created_at < %(until)s
                     AND route -> 'domains' ->> 0 IS NOT NULL
                   GROUP BY 1 ORDER BY n DESC, domain LIMIT 5""",
                window,
            )
            domains = [(str(d), int(n)) for d, n in await cur.fetchall()]
            # Every UTC day of the window, empty days included.
            cur = await conn.execute(
                """SELECT day::date, count(m.id)
                   FROM generate_series((%(since)s::timestamptz AT TIME ZONE 'UTC')::date,
                                        (%(until)s::timestamptz AT TIME ZONE 'UTC')::date,
                                        interval '1 day') AS day
                   LEFT JOIN messages m
                     ON m.role = 'user' AND m.created_at >= %(since)s AND m.created_at < %(until)s
                    AND (m.created_at AT TIME ZONE 'UTC')::date = day::date
                   GROUP BY day ORDER BY day""",
                window,
            )
            daily: list[tuple[date, int]] = [(d, int(n)) for d, n in await cur.fetchall()]
        return UsageStats(
            since=since,
            until=until,
            conversations=int(totals[0]),
            messages=int(totals[1]),
            questions=int(totals[2]),
            active_users=int(totals[3]),
            ttft_p50_ms=_float(totals[4]),
            ttft_p95_ms=_float(totals[5]),
            total_p50_ms=_float(totals[6]),
            total_p95_ms=_float(totals[7]),
            cost_usd=float(totals[8]),
            input_tokens=int(totals[9]),
            output_tokens=int(totals[10]),
            thumbs_up=int(ratings[0]),
            thumbs_down=int(ratings[1]),
            top_domains=domains,
            daily_questions=daily,
        )

    async def sources(self) -> list[IndexedSource]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(IndexedSource))
            await cur.execute(
                """SELECT d.source, d.domain, count(DISTINCT d.id) AS documents,
                          count(c.id) AS chunks, max(d.updated_at) AS last_indexed
                   FROM documents d LEFT JOIN chunks c ON c.document_id = d.id
                   GROUP BY d.source, d.domain ORDER BY d.source, d.domain"""
            )
            return await cur.fetchall()

    async def watched_sources(self) -> list[WatchedSource]:
        """Folders and pages someone ingested, which the reingest job keeps fresh."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(WatchedSource))
            await cur.execute(
                """SELECT uri, added_by, added_at, last_scanned_at, last_outcome
                   FROM knowledge_sources ORDER BY uri"""
            )
            return await cur.fetchall()

    async def remember_source(self, uri: str, added_by: str) -> None:
        await KnowledgeSources(self._pool).add(uri, added_by=added_by)

    async def negative_feedback(self, limit: int) -> list[NegativeFeedback]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(NegativeFeedback))
            await cur.execute(
                """SELECT f.id, f.created_at, f.reasons, f.comment, a.text AS answer,
                          (SELECT q.text FROM messages q
                           WHERE q.conversation_id = a.conversation_id AND q.role = 'user'
                             AND q.id < a.id
                           ORDER BY q.id DESC LIMIT 1) AS question
                   FROM feedback f JOIN messages a ON a.id = f.message_id
                   WHERE f.rating = -1
                   ORDER BY f.created_at DESC, f.id DESC LIMIT %s""",
                (limit,),
            )
            return await cur.fetchall()

    async def find_users(self, platform: str, workspace_id: str, ref: str) -> list[KnownUser]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(KnownUser))
            if "@" in ref:
                await cur.execute(
                    f"SELECT {_USER_COLUMNS} FROM users WHERE lower(email) = lower(%s) ORDER BY id",
                    (ref,),
                )
            else:
                await cur.execute(
                    f"""SELECT {_USER_COLUMNS} FROM users
                        WHERE platform = %s AND workspace_id = %s AND platform_user_id = %s""",
                    (platform, workspace_id, ref),
                )
            return await cur.fetchall()

    async def ensure_user(self, platform: str, workspace_id: str, user_id: str) -> KnownUser:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(KnownUser))
            await cur.execute(
                f"""INSERT INTO users (platform, workspace_id, platform_user_id)
                    VALUES (%s, %s, %s)
                    ON CONFLICT (platform, workspace_id, platform_user_id)
                        DO UPDATE SET updated_at = users.updated_at
                    RETURNING {_USER_COLUMNS}""",
                (platform, workspace_id, user_id),
            )
            row = await cur.fetchone()
        assert row is not None
        return row

    async def set_role(self, user_ids: Sequence[int], role: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE users SET role = %s, updated_at = now() WHERE id = ANY(%s)",
                (role, list(user_ids)),
            )

    async def indexed_documents(self) -> list[tuple[str, str, str | None]]:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT uri, source, path FROM documents ORDER BY uri")
            return [(uri, source, path) for uri, source, path in await cur.fetchall()]

    async def remove_documents(self, uris: Sequence[str]) -> int:
        if not uris:
            return 0
        async with self._pool.connection() as conn:
            cur = await conn.execute("DELETE FROM documents WHERE uri = ANY(%s)", (list(uris),))
            return cur.rowcount


class PgAuditLog:
    """``core.commands.stores.AuditLog``: one row per admin or privacy action."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def record(self, entry: AuditEntry) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO audit_log (actor_id, actor, action, target, outcome, details)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                (
                    entry.actor_id,
                    entry.actor,
                    entry.action,
                    entry.target,
                    entry.outcome,
                    Jsonb(dict(entry.details)),
                ),
            )
