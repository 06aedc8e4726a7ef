"""The answer cache in Redis, shared by every replica (``core.llm.cache.AnswerCache``).

Invalidation bumps a generation number that is part of every key, so one INCR forgets every
answer on every replica at once; the old keys simply expire.
"""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.llm.cache import CachedAnswer, question_key

log = structlog.get_logger(__name__)


class RedisAnswerCache:
    """Cached answers under ``{prefix}:{generation}:{key}`` with a time to live.

    Redis trouble never fails a question: a read that fails is a miss, a write that fails is
    skipped, and both are logged.
    """

    def __init__(self, redis: Redis, *, ttl: int, prefix: str = "sb:answers") -> None:
        self._redis = redis
        self._ttl = ttl
        self._prefix = prefix
        self._generation_key = f"{prefix}:generation"

    async def _key(self, domain: str, question: str) -> str:
        generation = await self._redis.get(self._generation_key)
        number = int(generation) if generation is not None else 0
        return f"{self._prefix}:{number}:{question_key(domain, question)}"

    async def get(self, domain: str, question: str) -> CachedAnswer | None:
        try:
            raw = await self._redis.get(await self._key(domain, question))
            return CachedAnswer.from_json(raw) if raw is not None else None
        except (RedisError, OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("answer_cache_read_failed", error=str(exc))
            return None

    async def put(self, domain: str, question: str, answer: CachedAnswer) -> None:
        if self._ttl <= 0:
            return
        try:
            await self._redis.set(await self._key(domain, question), answer.to_json(), ex=self._ttl)
        except (RedisError, OSError) as exc:
            log.warning("answer_cache_write_failed", error=str(exc))

    async def invalidate(self) -> None:
        try:
            await self._redis.incr(self._generation_key)
        except (RedisError, OSError) as exc:
            # Entries then live out their TTL; say so loudly, since answers may be stale.
            log.error("answer_cache_invalidate_failed", error=str(exc), ttl_s=self._ttl)
