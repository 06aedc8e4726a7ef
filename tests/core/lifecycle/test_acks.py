"""A burst is acknowledged before the answers it starts: answers wait while many requests are
being acknowledged, and never longer than the bound."""

from __future__ import annotations

import asyncio

from core.lifecycle.acks import AckFirst


async def test_answers_wait_while_a_burst_is_being_acknowledged():
    acks = AckFirst(threshold=2, max_wait_s=60)
    release = asyncio.Event()
    order: list[str] = []

    async def acknowledge(n: int) -> None:
        with acks.acknowledging():
            await release.wait()
            order.append(f"ack {n}")

    burst = [asyncio.create_task(acknowledge(n)) for n in range(5)]
    await asyncio.sleep(0)
    assert acks.in_flight == 5

    async def answer() -> None:
        await acks.settled()
        order.append("answer")

    answering = asyncio.create_task(answer())
    await asyncio.sleep(0.01)
    assert order == []  # held back while five acknowledgements are in flight
    release.set()
    await asyncio.gather(*burst, answering)
    assert order[-1] == "answer" and order.count("answer") == 1
    assert acks.in_flight == 0


async def test_a_quiet_moment_lets_answers_through_at_once():
    acks = AckFirst(threshold=2, max_wait_s=60)
    with acks.acknowledging():
        await asyncio.wait_for(acks.settled(), 1)  # one in flight is no burst


async def test_a_flood_that_never_ends_delays_answers_but_never_starves_them():
    acks = AckFirst(threshold=0, max_wait_s=0.05)
    with acks.acknowledging():
        await asyncio.wait_for(acks.settled(), 10)  # returns after the bound, still busy
        assert acks.in_flight == 1
