"""Forget-me wins over an identity lookup waiting its turn: a person whose platform lookup was
put off (the platform had no room while their question was answered) is forgotten on another
replica before the lookup runs; when it does, who they are is not written back. Through a real
Redis; the platform is a stand-in at its seam (``IdentityResolver``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from redis.asyncio import Redis

from core.events import Person
from core.identity.people import Identity, NotNow, People, person_key
from store.ttl_cache import RedisTtlCache

ERIN = Person(platform="slack", workspace_id="T1", user_id="U-erin")


class BusyPlatform:
    """No room while a question waits; a paced lookup waits for ``turn``, then answers."""

    def __init__(self) -> None:
        self.turn = asyncio.Event()
        self.lookups = 0

    async def resolve(
        self, person: Person, extras: Mapping[str, object], *, now: bool
    ) -> Identity | None:
        if now:
            raise NotNow(retry_after=0.01)
        self.lookups += 1
        await self.turn.wait()
        return Identity(email="erin@example.com", locale="en-GB")


async def test_a_lookup_put_off_at_the_question_does_not_write_back_a_forgotten_person(
    redis: Redis,
):
    platform = BusyPlatform()
    here, elsewhere = People(RedisTtlCache(redis)), People(RedisTtlCache(redis))
    here.register("slack", platform)

    assert await here.identity(ERIN, {}) is None  # answered now, looked up later
    for _ in range(200):
        if platform.lookups:
            break
        await asyncio.sleep(0.005)
    assert platform.lookups == 1
    await elsewhere.forget(ERIN)  # forget-me, on another replica, while the lookup waits

    platform.turn.set()
    await here.settled()
    assert await redis.get(f"sb:{person_key(ERIN)}") is None
    # Asked again, she is looked up afresh rather than served what was forgotten.
    assert await here.identity(ERIN, {}) is None
    await here.settled()
    assert platform.lookups == 2


async def test_a_lookup_put_off_at_the_question_is_kept_for_the_next_one(redis: Redis):
    platform = BusyPlatform()
    platform.turn.set()
    people = People(RedisTtlCache(redis))
    people.register("slack", platform)

    assert await people.identity(ERIN, {}) is None
    await people.settled()
    found = await people.identity(ERIN, {})
    assert found is not None and found.email == "erin@example.com"
    assert platform.lookups == 1
