"""The per-workspace budget: no window of a method's length ever holds more calls than its tier."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from bots.slack.pacing import TIER, SlackPacer


def busiest_window(slots: list[float], window: float) -> int:
    slots = sorted(slots)
    return max(sum(1 for t in slots if start <= t < start + window) for start in slots)


async def reserve_many(
    pacer: SlackPacer, method: str, count: int, *, team: str = "T1", channel: str | None = None
) -> list[float]:
    now = time.monotonic()
    return [now + (await pacer.reserve(team, method, channel=channel) or 0.0) for _ in range(count)]


async def test_slots_never_put_more_than_the_tier_in_one_window():
    pacer = SlackPacer(window_s=2.0)
    starts = await reserve_many(pacer, "chat.startStream", 50)  # Tier 2: 20 a window
    assert busiest_window(starts, 2.0) == TIER[2]
    assert max(starts) - min(starts) >= 2 * 2.0  # 50 calls need a third window
    # Budgets are per workspace and per method.
    assert await pacer.reserve("T2", "chat.startStream") == 0.0
    assert await pacer.reserve("T1", "chat.appendStream") == 0.0


async def test_a_caller_that_cannot_wait_takes_no_slot():
    pacer = SlackPacer(window_s=60.0)
    for _ in range(TIER[3]):
        assert await pacer.reserve("T1", "chat.update", max_wait=0) == 0.0
    assert await pacer.reserve("T1", "chat.update", max_wait=0) is None
    assert await pacer.reserve("T1", "chat.update", max_wait=0) is None
    wait = await pacer.reserve("T1", "chat.update")
    assert wait is not None and 59 < wait < 62


async def test_post_message_is_paced_per_channel():
    pacer = SlackPacer(window_s=12.0)  # five in a second per channel
    one = await reserve_many(pacer, "chat.postMessage", 10, channel="C1")
    assert busiest_window(one, 1.0) == 5
    assert await pacer.reserve("T1", "chat.postMessage", channel="C2") == 0.0


async def test_a_429_closes_the_method_for_everyone_for_retry_after():
    pacer = SlackPacer(window_s=60.0)
    await pacer.hold_off("T1", "chat.appendStream", 3.0)
    wait = await pacer.reserve("T1", "chat.appendStream")
    assert wait is not None and 2.5 < wait <= 3.0
    assert await pacer.reserve("T2", "chat.appendStream") == 0.0


async def test_replicas_sharing_redis_share_one_budget(redis_url: str):
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        await first.flushdb()
        replica_a = SlackPacer(window_s=2.0, redis=first)
        replica_b = SlackPacer(window_s=2.0, redis=second)
        slots = []
        for n in range(40):
            pacer = replica_a if n % 2 else replica_b
            slots += await reserve_many(pacer, "chat.stopStream", 1)
        assert busiest_window(slots, 2.0) == TIER[2]
        await replica_a.hold_off("T1", "chat.update", 2.0)
        wait = await replica_b.reserve("T1", "chat.update")
        assert wait is not None and wait > 1.5
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_nice_to_have_call_leaves_slots_for_the_ones_that_matter():
    pacer = SlackPacer(window_s=60.0)
    granted = 0
    while await pacer.reserve("T1", "chat.update", max_wait=0, keep=25) is not None:
        granted += 1
    assert granted == TIER[3] - 25
    # The final updates still get the rest of the window straight away.
    for _ in range(25):
        assert await pacer.reserve("T1", "chat.update", max_wait=0) == 0.0


async def evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_a_turned_down_nicety_is_turned_down_again_without_asking_redis_until_a_slot_frees(
    redis_url: str,
):
    redis, other = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        await redis.flushdb()
        await redis.config_resetstat()
        pacer = SlackPacer(window_s=1.0, redis=redis)
        for _ in range(TIER[2]):
            assert await pacer.reserve("T1", "chat.startStream", max_wait=0) == 0.0
        assert await pacer.reserve("T1", "chat.startStream", max_wait=0) is None
        asked = await evalsha_calls(redis)
        for _ in range(30):  # a burst of answers each hoping to stream
            assert await pacer.reserve("T1", "chat.startStream", max_wait=0) is None
        assert await evalsha_calls(redis) == asked
        # A caller that can wait still gets its slot, and the window's limit holds.
        wait = await pacer.reserve("T1", "chat.startStream")
        assert wait is not None and 0.9 < wait < 1.2
        # A replica that never asked is told by Redis itself.
        assert await SlackPacer(window_s=1.0, redis=other).reserve(
            "T1", "chat.startStream", max_wait=0
        ) is None
        # Once the window has moved on, the nicety is granted again.
        await asyncio.sleep(1.2)
        assert await pacer.reserve("T1", "chat.startStream", max_wait=0) == 0.0
    finally:
        await redis.aclose()
        await other.aclose()
