"""The limits' storage against real Redis and Postgres: one bucket shared by every replica,
today's spend summed from the stored answers, refusals counted for admins."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from bots.runtime import Runtime
from core.events import Person
from core.limits import LimitHit
from store.limits import PgLimitLog, PgSpendLedger, RedisTokenBucket

NOW = datetime.now(UTC)
MIDNIGHT = datetime.combine(NOW.date(), datetime.min.time(), tzinfo=UTC)


def person(user: str, workspace: str = "W1", platform: str = "slack") -> Person:
    return Person(platform, workspace, user, display_name=f"Name of {user}")


async def answered(
    runtime: Runtime, who: Person, cost: float, *, at: datetime | None = None, thread: str = "t"
) -> None:
    """A stored question and answer of ``who`` costing ``cost`` dollars, created ``at``."""
    pool = runtime.db.pool
    when = at or datetime.now(UTC)
    user = await runtime.conversations.upsert_user(who)
    async with pool.connection() as conn:
        cur = await conn.execute(
            """INSERT INTO conversations (platform, workspace_id, channel_id, thread_id, kind,
                                          user_id)
               VALUES (%s, %s, 'D1', %s, 'dm', %s)
               ON CONFLICT (platform, workspace_id, channel_id, thread_id)
               DO UPDATE SET updated_at = now() RETURNING id""",
            (who.platform, who.workspace_id, f"{who.user_id}-{thread}", user.id),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            """INSERT INTO messages (conversation_id, user_id, role, text, cost_usd, created_at)
               VALUES (%s, %s, 'user', 'q', 0, %s), (%s, %s, 'assistant', 'a', %s, %s)""",
            (row[0], user.id, when, row[0], user.id, cost, when),
        )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_one_bucket_is_shared_by_every_replica(redis_url: str):
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    key = f"shared-{NOW.timestamp()}"
    try:
        one = RedisTokenBucket(first, capacity=3, per_second=0.05)
        two = RedisTokenBucket(second, capacity=3, per_second=0.05)
        waits = [await one.take(key), await two.take(key), await one.take(key)]
        assert waits == [0.0, 0.0, 0.0]
        # The fourth question, on the other replica, is refused: about 20 s until a token.
        refused = await two.take(key)
        assert 15 < refused <= 20
        # Someone else is not affected.
        assert await two.take(key + "-other") == 0.0
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_refused_question_takes_nothing_from_the_bucket(redis_url: str):
    redis = Redis.from_url(redis_url)
    key = f"refused-{NOW.timestamp()}"
    try:
        bucket = RedisTokenBucket(redis, capacity=1, per_second=0.01)
        assert await bucket.take(key) == 0.0
        waits = [await bucket.take(key) for _ in range(5)]
        # Asking again while refused does not push the wait further out.
        assert all(w > 0 for w in waits)
        assert waits[-1] <= waits[0]
        assert await redis.ttl(f"sb:rate:{key}") > 0  # idle buckets expire
    finally:
        await redis.aclose()


async def test_the_limit_holds_in_process_while_redis_is_down():
    redis = Redis.from_url(
        f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=0.5, socket_timeout=0.5
    )
    try:
        bucket = RedisTokenBucket(redis, capacity=2, per_second=0.01)
        waits = [await bucket.take("u") for _ in range(3)]
        assert waits[:2] == [0.0, 0.0]
        assert waits[2] > 0
    finally:
        await redis.aclose()


async def test_spend_counts_todays_answers_of_the_person_and_of_their_workspace(runtime: Runtime):
    alice, bob = person("UA"), person("UB")
    await answered(runtime, alice, 0.75)
    await answered(runtime, alice, 0.5, thread="second")
    await answered(runtime, bob, 2.0)
    # Not counted: yesterday, another workspace, another platform with the same ids.
    await answered(runtime, alice, 9.0, at=MIDNIGHT - timedelta(minutes=1), thread="old")
    await answered(runtime, person("UA", workspace="W2"), 7.0)
    await answered(runtime, person("UA", platform="teams"), 5.0)

    ledger = PgSpendLedger(runtime.db.pool)
    spent = await ledger.spent_since(alice, MIDNIGHT, user=True, workspace=True)

    assert spent.user_usd == 1.25
    assert spent.workspace_usd == 3.25
    only_user = await ledger.spent_since(bob, MIDNIGHT, user=True, workspace=False)
    assert (only_user.user_usd, only_user.workspace_usd) == (2.0, 0.0)


async def test_workspace_spend_is_read_once_for_a_burst_and_then_kept_briefly(runtime: Runtime):
    alice = person("UA")
    await answered(runtime, alice, 1.0)
    clock = [0.0]
    ledger = PgSpendLedger(runtime.db.pool, workspace_ttl_s=10, clock=lambda: clock[0])
    totals = await asyncio.gather(
        *(
            ledger.spent_since(person(f"U{n}"), MIDNIGHT, user=False, workspace=True)
            for n in range(50)
        )
    )
    assert {t.workspace_usd for t in totals} == {1.0}

    await answered(runtime, alice, 1.0, thread="later")
    kept = await ledger.spent_since(alice, MIDNIGHT, user=False, workspace=True)
    clock[0] = 11.0
    fresh = await ledger.spent_since(alice, MIDNIGHT, user=False, workspace=True)
    assert (kept.workspace_usd, fresh.workspace_usd) == (1.0, 2.0)


async def test_refusals_are_counted_per_person_and_limit_and_named_for_admins(runtime: Runtime):
    limits = PgLimitLog(runtime.db.pool)
    alice, bob = person("UA"), person("UB")
    await runtime.conversations.upsert_user(alice)  # known by name; bob never got an answer
    for _ in range(3):
        await limits.record(LimitHit("rate", alice, 4.0))
    await limits.record(LimitHit("user_budget", alice, 3600.0))
    await limits.record(LimitHit("workspace_budget", bob, 3600.0))

    now = datetime.now(UTC)
    hits = await limits.hits(now - timedelta(days=1), now + timedelta(minutes=1), 10)

    seen = {(h.user_id, h.kind): (h.hits, h.display_name) for h in hits}
    assert seen == {
        ("UA", "rate"): (3, "Name of UA"),
        ("UA", "user_budget"): (1, "Name of UA"),
        ("UB", "workspace_budget"): (1, None),
    }
    assert hits[0].kind == "rate"  # most refusals first
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM limit_hits")
        row = await cur.fetchone()
    assert row is not None and row[0] == 3  # a counter per person and limit, not a row per hit
    assert await limits.hits(now + timedelta(minutes=1), now + timedelta(days=1), 10) == []


async def test_people_asking_at_once_get_their_own_spend_from_one_statement(runtime: Runtime):
    # A burst's guards share one lookup; each still gets their own day's total.
    people = [person(f"UP{n}") for n in range(30)]
    for n, who in enumerate(people[:10]):
        await answered(runtime, who, 0.25 * (n + 1))
    await answered(runtime, people[3], 9.0, at=MIDNIGHT - timedelta(minutes=1), thread="old")
    ledger = PgSpendLedger(runtime.db.pool)
    before = runtime.db.pool.get_stats()["requests_num"]

    spent = await asyncio.gather(
        *(ledger.spent_since(who, MIDNIGHT, user=True, workspace=False) for who in people)
    )

    assert [s.user_usd for s in spent] == [0.25 * (n + 1) for n in range(10)] + [0.0] * 20
    assert runtime.db.pool.get_stats()["requests_num"] - before == 1
    # Later, alone, the same answer.
    alone = await ledger.spent_since(people[9], MIDNIGHT, user=True, workspace=False)
    assert alone.user_usd == 2.5
