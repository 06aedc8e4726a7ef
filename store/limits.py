"""The limits' storage: the shared token bucket in Redis, today's model spend from ``messages``,
and the record of refusals (``limit_hits``, migration 0009)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.events import Person
from core.limits import (
    DailySpend,
    LimitHit,
    LimitHitSummary,
    MemoryTokenBucket,
    QuestionGate,
)
from core.settings import Settings
from store.batched import Batched

log = structlog.get_logger(__name__)

# One bucket is a hash {tokens, at}. Redis's own clock is used, so replicas whose clocks differ
# still refill the same bucket at the same pace. Returns the wait in seconds as a string (Lua
# numbers would be truncated to integers on the way out).
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisTokenBucket:
    """Token buckets every replica shares, one atomic Lua call per question.

    When Redis fails the bucket in this process takes over (each replica then limits on its
    own, so a person may get up to one bucket per replica) until Redis answers again.
    """

    def __init__(
        self, redis: Redis, *, capacity: int, per_second: float, prefix: str = "sb:rate:"
    ) -> None:
        self._redis = redis
        self._capacity = capacity
        self._rate = per_second
        self._prefix = prefix
        self._script = redis.register_script(_TAKE)
        self._fallback = MemoryTokenBucket(capacity=capacity, per_second=per_second)
        self._degraded = False

    async def take(self, key: str) -> float:
        try:
            wait = await self._script(
                keys=[self._prefix + key], args=[self._capacity, repr(self._rate)]
            )
        except (RedisError, OSError) as exc:
            if not self._degraded:
                log.warning("rate_limit_redis_unavailable", error=str(exc))
                self._degraded = True
            return self._fallback.take_now(key)
        if self._degraded:
            log.info("rate_limit_redis_back")
            self._degraded = False
        return float(wait)

    async def forget(self, key: str) -> None:
        await self._fallback.forget(key)
        try:
            await self._redis.delete(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_forget_failed", error=str(exc))


class PgSpendLedger:
    """Today's model cost from the stored answers.

    A person's total is one indexed lookup (``messages_user_idx``), and the people asking at
    the same moment are looked up in one statement. A workspace's total reads all of its
    answers of the day, so it is kept for ``workspace_ttl_s`` seconds (a budget may be
    overshot by what is spent meanwhile) and computed once however many of its questions
    arrive together.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        workspace_ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._ttl = workspace_ttl_s
        self._clock = clock
        self._workspaces: dict[tuple[str, str, datetime], tuple[float, float]] = {}
        self._loading: dict[tuple[str, str, datetime], asyncio.Future[float]] = {}
        self._users: Batched[tuple[Person, datetime], float] = Batched(self._users_spent)

    async def spent_since(
        self, person: Person, since: datetime, *, user: bool, workspace: bool
    ) -> DailySpend:
        user_usd = await self._users((person, since)) if user else 0.0
        workspace_usd = await self._workspace(person, since) if workspace else 0.0
        return DailySpend(user_usd=user_usd, workspace_usd=workspace_usd)

    async def _users_spent(self, asked: Sequence[tuple[Person, datetime]]) -> list[float]:
        """What each of the people ``asked`` about spent since their time, in one statement
        for all of them (``store.batched``): a burst's guards share it."""
        async with self._pool.connection() as conn:
            # One person across platforms (``Person.account``): their record is found by
            # email too, so the first question from an account not yet joined to it (no
            # ``users`` row, or no ``same_as`` yet) still counts what they spent elsewhere.
            cur = await conn.execute(
                """SELECT coalesce((
                       SELECT sum(m.cost_usd) FROM messages m
                       WHERE m.created_at >= q.since AND m.role = 'assistant'
                         AND m.user_id IN (
                             SELECT coalesce(u.same_as, u.id) FROM users u
                             WHERE (u.platform = q.platform AND u.workspace_id = q.workspace
                                    AND u.platform_user_id = q.platform_user)
                                OR (q.account IS NOT NULL AND u.email IS NOT NULL
                                    AND lower(u.email) = q.account))), 0)
                   FROM unnest(%(platforms)s::text[], %(workspaces)s::text[],
                               %(users)s::text[], %(accounts)s::text[],
                               %(sinces)s::timestamptz[])
                        WITH ORDINALITY AS q(platform, workspace, platform_user, account, since, n)
                   ORDER BY q.n""",
                {
                    "platforms": [p.platform for p, _ in asked],
                    "workspaces": [p.workspace_id for p, _ in asked],
                    "users": [p.user_id for p, _ in asked],
                    "accounts": [p.account or None for p, _ in asked],
                    "sinces": [since for _, since in asked],
                },
            )
            rows = await cur.fetchall()
        return [float(spent) for (spent,) in rows]

    async def _workspace(self, person: Person, since: datetime) -> float:
        key = (person.platform, person.workspace_id, since)
        now = self._clock()
        cached = self._workspaces.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        loading = self._loading.get(key)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            total = await self._workspace_total(person, since)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiting callers re-raise it, nobody else must
            raise
        else:
            future.set_result(total)
        finally:
            del self._loading[key]
        # Yesterday's totals are of no more use.
        self._workspaces = {k: v for k, v in self._workspaces.items() if k[2] >= since}
        self._workspaces[key] = (self._clock() + self._ttl, total)
        return total

    async def _workspace_total(self, person: Person, since: datetime) -> float:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT coalesce(sum(m.cost_usd), 0)
                   FROM messages m JOIN conversations c ON c.id = m.conversation_id
                   WHERE c.platform = %s AND c.workspace_id = %s
                     AND m.created_at >= %s AND m.role = 'assistant'""",
                (person.platform, person.workspace_id, since),
            )
            row = await cur.fetchone()
        return float(row[0]) if row else 0.0


class PgLimitLog:
    """Refusals counted per day, limit and person (one row each), for admins' ``stats``."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def record(self, hit: LimitHit) -> None:
        person = hit.person
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO limit_hits (day, kind, platform, workspace_id, platform_user_id)
                   VALUES ((now() AT TIME ZONE 'UTC')::date, %s, %s, %s, %s)
                   ON CONFLICT (day, kind, platform, workspace_id, platform_user_id)
                   DO UPDATE SET hits = limit_hits.hits + 1, last_at = now()""",
                (hit.kind, person.platform, person.workspace_id, person.user_id),
            )

    async def hits(self, since: datetime, until: datetime, limit: int) -> list[LimitHitSummary]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(LimitHitSummary))
            await cur.execute(
                """SELECT h.kind, h.platform, h.workspace_id, h.platform_user_id AS user_id,
                          u.display_name, sum(h.hits)::integer AS hits, max(h.last_at) AS last_at
                   FROM limit_hits h
                   LEFT JOIN users u ON u.platform = h.platform
                        AND u.workspace_id = h.workspace_id
                        AND u.platform_user_id = h.platform_user_id
                   WHERE h.last_at >= %s AND h.first_at < %s
                   GROUP BY h.kind, h.platform, h.workspace_id, h.platform_user_id, u.display_name
                   ORDER BY hits DESC, last_at DESC
                   LIMIT %s""",
                (since, until, limit),
            )
            return await cur.fetchall()


def question_gate(
    settings: Settings, pool: AsyncConnectionPool, redis: Redis | None
) -> QuestionGate:
    """The limits the settings ask for: the bucket in Redis when there is one, budgets from
    the stored answers, refusals recorded in ``limit_hits``."""
    bucket: RedisTokenBucket | MemoryTokenBucket | None = None
    if settings.rate_limit_burst > 0:
        per_second = settings.rate_limit_per_minute / 60
        bucket = (
            RedisTokenBucket(redis, capacity=settings.rate_limit_burst, per_second=per_second)
            if redis is not None
            else MemoryTokenBucket(capacity=settings.rate_limit_burst, per_second=per_second)
        )
    return QuestionGate(
        bucket=bucket,
        ledger=PgSpendLedger(pool, workspace_ttl_s=settings.budget_refresh_s),
        limit_log=PgLimitLog(pool),
        user_budget_usd=settings.user_daily_budget_usd,
        workspace_budget_usd=settings.workspace_daily_budget_usd,
    )
