"""How often a streaming answer appends: every half second while the workspace's Tier 4 budget
has room, the same share for every stream when it runs low, counted across replicas."""

from __future__ import annotations

from redis.asyncio import Redis

from bots.slack.pacing import TIER, SlackPacer

BASE = 0.5


async def fill(pacer: SlackPacer, count: int, team: str = "T1") -> None:
    for _ in range(count):
        assert await pacer.reserve(team, "chat.appendStream", max_wait=0) is not None


async def test_a_stream_in_a_quiet_workspace_appends_every_half_second():
    pacer = SlackPacer(window_s=60.0)
    assert await pacer.append_interval("T1", "answer-1", BASE) == BASE
    # Ten answers at once still fit: a few seconds at that pace is within the tier.
    intervals = [await pacer.append_interval("T1", f"answer-{n}", BASE) for n in range(10)]
    assert intervals[-1] == BASE


async def test_when_the_budget_runs_low_every_stream_gets_the_same_share():
    pacer = SlackPacer(window_s=60.0)
    streams = [f"answer-{n}" for n in range(20)]
    for stream in streams:
        await pacer.append_interval("T1", stream, BASE)
    await fill(pacer, TIER[4])  # the window is spent
    intervals = {stream: await pacer.append_interval("T1", stream, BASE) for stream in streams}
    assert len(set(intervals.values())) == 1  # nobody is starved for the others
    share = intervals[streams[0]]
    # Together they ask no more than the tier gives back as the window slides.
    assert len(streams) * 60.0 / share <= TIER[4] * 1.05
    # Another workspace's budget is its own.
    assert await pacer.append_interval("T2", "answer-x", BASE) == BASE


async def test_an_ended_stream_leaves_its_share_to_the_others():
    pacer = SlackPacer(window_s=60.0)
    for n in range(20):
        await pacer.append_interval("T1", f"answer-{n}", BASE)
    await fill(pacer, TIER[4])
    crowded = await pacer.append_interval("T1", "answer-0", BASE)
    for n in range(1, 20):
        await pacer.appends.leave("T1", f"answer-{n}")
    alone = await pacer.append_interval("T1", "answer-0", BASE)
    assert alone < crowded / 10


async def test_replicas_sharing_redis_count_each_others_streams(redis_url: str):
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        await first.flushdb()
        replica_a = SlackPacer(window_s=60.0, redis=first)
        replica_b = SlackPacer(window_s=60.0, redis=second)
        for n in range(10):
            await replica_a.append_interval("T1", f"a-{n}", BASE)
            await replica_b.append_interval("T1", f"b-{n}", BASE)
        await fill(replica_a, TIER[4] // 2)
        await fill(replica_b, TIER[4] // 2)
        on_a = await replica_a.append_interval("T1", "a-0", BASE)
        on_b = await replica_b.append_interval("T1", "b-0", BASE)
        assert on_a == on_b > BASE  # twenty streams share one spent budget, wherever they run
        alone = SlackPacer(window_s=60.0)
        await fill(alone, TIER[4])
        for n in range(10):
            await alone.append_interval("T1", f"a-{n}", BASE)
        assert on_a > await alone.append_interval("T1", "a-0", BASE)
    finally:
        await first.aclose()
        await second.aclose()
