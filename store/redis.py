"""The optional Redis connection: shared state across replicas when ``REDIS_URL`` is set."""

from __future__ import annotations

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

# Per replica; Redis answers in microseconds, so a few dozen connections carry thousands of
# operations a second.
MAX_CONNECTIONS = 64


async def connect_redis(url: str | None) -> Redis | None:
    """A client for ``url``, or None when Redis is not configured.

    A Redis that is down at start is logged, not fatal: every user of the client falls back to
    in-process state on errors, and the client reconnects by itself when Redis is back. A new
    replica can therefore start (and scale out) during a Redis outage.
    """
    if not url:
        return None
    # A burst (2,000 events at once) must wait its turn for a connection, not fail: redis-py's
    # default pool raises "Too many connections" past 100. Waiting is bounded like a command.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=2,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
    )
    client = Redis.from_pool(pool)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        log.warning("redis_unavailable_at_start", error=str(exc))
    return client
