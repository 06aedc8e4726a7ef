"""A person's groups are kept for a TTL and refreshed in the background: within the first half
of the TTL no lookup is made, past it the kept groups answer at once while Graph is asked
again, and a change of membership is in force from the next question on. Through the local
Graph fake and a real Redis."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bots.people import build_people
from tests.core.identity.test_forget_in_flight import (  # noqa: F401 (fixtures)
    DAVE,
    TTL,
    graph,
    lookups,
    settings,
)


async def test_groups_are_kept_then_refreshed_in_the_background(graph, redis: Redis):  # noqa: F811
    fake, _ = graph
    people = build_people(settings(graph), redis)
    try:
        assert "group:hr managers" in (await people.scope(DAVE)).principals
        first = lookups(fake)
        assert first >= 1
        # Kept: asking again within half the TTL costs no lookup.
        assert "group:hr managers" in (await people.scope(DAVE)).principals
        assert lookups(fake) == first

        # Dave leaves HR Managers at the directory; past half the TTL his next question still
        # gets the kept groups without waiting for Graph, and starts a refresh.
        fake.members.pop("dave@example.com", None)
        fake.join("dave@example.com", "Finance")
        await asyncio.sleep(TTL / 2 + 0.1)
        gate = fake.memberships_gate = asyncio.Event()
        served = await asyncio.wait_for(people.scope(DAVE), 0.5)  # Graph is held: no wait
        assert "group:hr managers" in served.principals
        gate.set()
        fake.memberships_gate = None
        for _ in range(200):
            if lookups(fake) > first:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)

        # From the next question on, the refreshed groups apply.
        after = (await people.scope(DAVE)).principals
        assert "group:finance" in after and "group:hr managers" not in after
    finally:
        await people.aclose()
