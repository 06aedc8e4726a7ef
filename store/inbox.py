"""The inbox: every accepted platform event once, so each question is answered exactly once.

Redis (``SET NX EX``, shared by all replicas) turns away duplicate deliveries cheaply; the
Postgres ``inbox`` table, unique on the event key, is the durable guarantee and the record of
what happened to each event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


class EventInbox:
    """``accept`` says whether an event is new; ``done`` / ``failed`` record how it ended."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        redis: Redis | None = None,
        dedupe_ttl_s: int = 3600,
        lease_s: int = 300,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._ttl = dedupe_ttl_s
        self._lease = lease_s

    async def accept(self, event_key: str, platform: str, payload: Mapping[str, Any]) -> bool:
        """Record the event; True the first time its key is seen, False for a duplicate."""
        redis_key = f"sb:event:{event_key}"
        if self._redis is not None:
            try:
                if not await self._redis.set(redis_key, "1", nx=True, ex=self._ttl):
                    return False
            except (RedisError, OSError) as exc:
                # Redis is an optimisation here; Postgres below still dedupes.
                log.warning("dedupe_redis_unavailable", error=str(exc))
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    """INSERT INTO inbox (event_key, platform, payload, state, attempts, lease_until)
                       VALUES (%s, %s, %s, 'working', 1, now() + make_interval(secs => %s))
                       ON CONFLICT (event_key) DO NOTHING
                       RETURNING id""",
                    (event_key, platform, Jsonb(dict(payload)), self._lease),
                )
                return await cur.fetchone() is not None
        except Exception:
            if self._redis is not None:
                # Let a retry of this delivery try again rather than be taken for a duplicate.
                try:
                    await self._redis.delete(redis_key)
                except (RedisError, OSError):
                    pass
            raise

    async def done(self, event_key: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE inbox SET state = 'done', lease_until = NULL, updated_at = now() "
                "WHERE event_key = %s",
                (event_key,),
            )

    async def failed(self, event_key: str, error: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE inbox SET state = 'failed', last_error = %s, lease_until = NULL, "
                "updated_at = now() WHERE event_key = %s",
                (error[:2000], event_key),
            )
