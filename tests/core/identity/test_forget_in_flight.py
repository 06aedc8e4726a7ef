"""Forget-me wins over lookups already under way: a group refresh in flight at Graph when the
person says forget-me (on this replica or another) does not write their groups back into
Redis or this process. Through the local Graph fake and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from bots.people import build_people
from bots.settings import AppSettings
from core.events import Person
from core.identity.groups import groups_key
from core.identity.people import People
from tests.support.fake_graph import FakeGraph, running

DAVE = Person(platform="slack", workspace_id="T1", user_id="U-dave", email="dave@example.com")
TTL = 1.0


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()
    fake.join("dave@example.com", "HR Managers")
    async with running(fake, tmp_path) as ca_file:
        yield fake, ca_file


def settings(graph: tuple[FakeGraph, str]) -> AppSettings:
    fake, ca_file = graph
    return AppSettings(
        _env_file=None,
        groups_from_graph=True,
        groups_ttl_s=TTL,
        sharepoint_tenant_id=fake.tenant_id,
        sharepoint_client_id=fake.client_id,
        sharepoint_client_secret=SecretStr(fake.client_secret),
        graph_url=f"{fake.base_url}/v1.0",
        entra_authority_host=fake.base_url,
        graph_ca_file=Path(ca_file),
    )


def lookups(fake: FakeGraph) -> int:
    return sum(1 for _, path in fake.requests if path.endswith("/transitiveMemberOf/microsoft.graph.group"))


async def refresh_in_flight(people: People, fake: FakeGraph) -> asyncio.Event:
    """Dave's groups are kept, past half their TTL; his next question starts a refresh that
    Graph holds open until the returned gate is set."""
    assert "group:hr managers" in (await people.scope(DAVE)).principals
    await asyncio.sleep(TTL / 2 + 0.1)
    gate = fake.memberships_gate = asyncio.Event()
    before = lookups(fake)
    assert "group:hr managers" in (await people.scope(DAVE)).principals  # kept ones still serve
    for _ in range(200):
        if lookups(fake) > before:
            return gate
        await asyncio.sleep(0.01)
    raise AssertionError("no refresh reached Graph")


async def kept(redis: Redis) -> bytes | None:
    return await redis.get(f"sb:{groups_key(DAVE.email or '')}")


@pytest.mark.parametrize("where", ["same replica", "another replica"])
async def test_forget_me_wins_over_a_group_refresh_in_flight(graph, redis: Redis, where: str):
    fake, _ = graph
    one = build_people(settings(graph), redis)
    other = build_people(settings(graph), redis) if where == "another replica" else one
    try:
        gate = await refresh_in_flight(one, fake)
        await other.forget(DAVE)
        assert await kept(redis) is None
        gate.set()  # Graph answers the refresh now
        await asyncio.sleep(0.3)
        assert await kept(redis) is None
        # What stops the write back does not name him either.
        assert not [k for k in await redis.keys("*") if b"dave" in k.lower()]

        # Dave asks again later: his groups are looked up afresh and kept as usual.
        fake.memberships_gate = None
        assert "group:hr managers" in (await one.scope(DAVE)).principals
        assert await kept(redis) is not None
    finally:
        await one.aclose()
        if other is not one:
            await other.aclose()
