"""Events arriving together share one INSERT, and each still learns exactly whether it is new."""

from __future__ import annotations

import asyncio
import uuid

from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bots.runtime import Runtime
from store.arrivals import Arrivals


async def rows(runtime: Runtime) -> dict[str, tuple[str, str, str]]:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT event_key, state, claim, owner FROM inbox")
        return {r[0]: (r[1], r[2], r[3]) for r in await cur.fetchall()}


async def test_a_burst_is_written_in_few_statements_and_every_event_once(runtime: Runtime):
    arrivals = Arrivals(runtime.db.pool, lease_s=60, owner="replica-a", max_batch=50)
    claims = {f"ev{n}": uuid.uuid4().hex for n in range(300)}

    created = await asyncio.gather(
        *(arrivals.insert(k, "slack", {"n": k}, c, timeout=5) for k, c in claims.items())
    )

    assert all(created)
    stored = await rows(runtime)
    assert {k: v[1] for k, v in stored.items()} == claims
    assert {v[0] for v in stored.values()} == {"working"}
    assert {v[2] for v in stored.values()} == {"replica-a"}


async def test_a_key_seen_before_or_twice_in_one_batch_is_new_exactly_once(runtime: Runtime):
    arrivals = Arrivals(runtime.db.pool, lease_s=60, owner="replica-a")
    assert await arrivals.insert("old", "slack", {}, "c0", timeout=5)

    results = await asyncio.gather(
        arrivals.insert("old", "slack", {}, "c1", timeout=5),
        arrivals.insert("twice", "slack", {}, "c2", timeout=5),
        arrivals.insert("twice", "teams", {}, "c3", timeout=5),
        arrivals.insert("new", "slack", {}, "c4", timeout=5),
    )

    assert results == [False, True, False, True]
    stored = await rows(runtime)
    assert stored["old"][1] == "c0" and stored["twice"][1] == "c2"


async def test_when_the_database_cannot_take_them_every_waiter_hears_it(runtime: Runtime):
    # A pool with no connection to give: the write times out for the whole batch.
    pool = AsyncConnectionPool(runtime.db.url, min_size=1, max_size=1, open=False)
    await pool.open()
    try:
        async with pool.connection():
            arrivals = Arrivals(pool, lease_s=60, owner="replica-a")
            outcomes = await asyncio.gather(
                *(arrivals.insert(f"ev{n}", "slack", {}, f"c{n}", timeout=0.2) for n in range(5)),
                return_exceptions=True,
            )
        assert all(isinstance(o, PoolTimeout) for o in outcomes), outcomes
        # Once the database is there again, the same events are written.
        again = Arrivals(pool, lease_s=60, owner="replica-a")
        assert await again.insert("ev0", "slack", {}, "c0", timeout=5)
    finally:
        await pool.close()
    assert "ev0" in await rows(runtime)


async def test_a_lone_event_is_written_at_once(runtime: Runtime):
    arrivals = Arrivals(runtime.db.pool, lease_s=60, owner="replica-a")
    assert await asyncio.wait_for(arrivals.insert("alone", "slack", {}, "c", timeout=5), 5)
    assert (await rows(runtime))["alone"] == ("working", "c", "replica-a")
