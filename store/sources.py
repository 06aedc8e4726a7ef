"""The folders and web pages someone ingested (``knowledge_sources``): reingest re-scans them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True, slots=True)
class KnownSource:
    """A folder, file or URL, and how its last scan went."""

    uri: str
    added_by: str | None
    added_at: datetime
    last_scanned_at: datetime | None
    last_outcome: str | None
    last_error: str | None


class KnowledgeSources:
    """Remember sources as they are ingested; record each re-scan's outcome."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def add(self, uri: str, *, added_by: str | None = None) -> None:
        """Remember ``uri`` (an absolute path or a URL); adding it again changes nothing."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO knowledge_sources (uri, added_by) VALUES (%s, %s)
                   ON CONFLICT (uri) DO NOTHING""",
                (uri, added_by),
            )

    async def remove(self, uri: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute("DELETE FROM knowledge_sources WHERE uri = %s", (uri,))
            return cur.rowcount > 0

    async def all(self) -> list[KnownSource]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(KnownSource))
            await cur.execute(
                """SELECT uri, added_by, added_at, last_scanned_at, last_outcome, last_error
                   FROM knowledge_sources ORDER BY added_at, uri"""
            )
            return await cur.fetchall()

    async def record_scan(self, uri: str, outcome: str, error: str | None = None) -> None:
        """Note a scan of ``uri``, adding it if it was only named in settings."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO knowledge_sources (uri, added_by, last_scanned_at, last_outcome,
                                                  last_error)
                   VALUES (%s, 'settings', now(), %s, %s)
                   ON CONFLICT (uri) DO UPDATE SET last_scanned_at = now(),
                       last_outcome = EXCLUDED.last_outcome, last_error = EXCLUDED.last_error""",
                (uri, outcome, error),
            )
