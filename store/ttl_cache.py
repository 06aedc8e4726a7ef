"""Strings kept for a while: in Redis when configured (shared by every replica), in this
process otherwise. Redis trouble is a miss, never a failed question."""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


class MemoryTtlCache:
    """In-process, for one replica; at most ``size`` keys (the oldest go first)."""

    def __init__(self, size: int = 100_000) -> None:
        self._items: dict[str, tuple[float, str]] = {}
        self._size = size

    async def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: str, ttl: float) -> None:
        if len(self._items) >= self._size:
            self._items.pop(next(iter(self._items)))
        self._items[key] = (time.monotonic() + ttl, value)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)


class RedisTtlCache:
    """Under ``{prefix}:{key}`` in Redis; falls back to memory while Redis is away."""

    def __init__(self, redis: Redis, *, prefix: str = "sb") -> None:
        self._redis = redis
        self._prefix = prefix
        self._local = MemoryTtlCache()

    async def get(self, key: str) -> str | None:
        return (await self.get_many([key]))[0]

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """Every key's value in one round trip (``MGET``)."""
        try:
            raws = await self._redis.mget([f"{self._prefix}:{key}" for key in keys])
        except (RedisError, OSError) as exc:
            log.warning("ttl_cache_read_failed", error=str(exc))
            return await self._local.get_many(keys)
        values: list[str | None] = []
        for key, raw in zip(keys, raws, strict=True):
            if raw is None:
                # Gone from Redis (expired, or deleted by another replica: forget-me): this
                # replica's fallback copy goes too, so it is never served while Redis is away.
                await self._local.delete(key)
            values.append(raw.decode() if isinstance(raw, bytes) else raw)
        return values

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._local.set(key, value, ttl)
        try:
            await self._redis.set(f"{self._prefix}:{key}", value, px=max(1, int(ttl * 1000)))
        except (RedisError, OSError) as exc:
            log.warning("ttl_cache_write_failed", error=str(exc))

    async def delete(self, key: str) -> None:
        await self._local.delete(key)
        try:
            await self._redis.delete(f"{self._prefix}:{key}")
        except (RedisError, OSError) as exc:
            log.warning("ttl_cache_delete_failed", error=str(exc))


def ttl_cache(redis: Redis | None) -> MemoryTtlCache | RedisTtlCache:
    return RedisTtlCache(redis) if redis is not None else MemoryTtlCache()
