"""The optional Redis connection: shared state across replicas when ``REDIS_URL`` is set."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import StoreUnavailable


async def connect_redis(url: str | None) -> Redis | None:
    """A client for ``url`` after one successful PING, or None when Redis is not configured."""
    if not url:
        return None
    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3, health_check_interval=30)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise StoreUnavailable(f"Cannot reach Redis at REDIS_URL: {exc}") from exc
    return client
