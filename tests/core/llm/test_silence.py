"""The stream's silence timer: a read that waits too long ends, time spent between reads
does not count, and a cancellation from outside stays a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.llm.silence import Silence


async def pieces(gaps: list[float]) -> AsyncIterator[int]:
    for n, gap in enumerate(gaps):
        await asyncio.sleep(gap)
        yield n


async def read_all(silence: Silence, items: AsyncIterator[int], pause: float = 0.0) -> list[int]:
    got = []
    try:
        while True:
            try:
                got.append(await silence.next(items))
            except StopAsyncIteration:
                return got
            await asyncio.sleep(pause)  # the caller showing the text
    finally:
        silence.close()


async def test_a_read_that_waits_longer_than_idle_times_out_after_the_items_before_it():
    loop = asyncio.get_running_loop()
    silence = Silence(idle=0.15, deadline=loop.time() + 10)
    items = pieces([0.01, 0.01, 0.6])
    got: list[int] = []
    started = loop.time()
    with pytest.raises(TimeoutError):
        while True:
            got.append(await silence.next(items))
    assert got == [0, 1]
    assert loop.time() - started < 0.5  # ended at the silence, not at the item


async def test_time_between_reads_does_not_count_as_silence():
    loop = asyncio.get_running_loop()
    silence = Silence(idle=0.1, deadline=loop.time() + 10)
    # Each item comes at once, but the caller spends twice the idle time on each.
    assert await read_all(silence, pieces([0.0, 0.0, 0.0]), pause=0.2) == [0, 1, 2]


async def test_many_quick_items_keep_a_long_stream_alive():
    loop = asyncio.get_running_loop()
    silence = Silence(idle=0.1, deadline=loop.time() + 10)
    assert len(await read_all(silence, pieces([0.02] * 20))) == 20  # 0.4 s in all


async def test_the_deadline_ends_a_stream_whose_items_keep_coming():
    loop = asyncio.get_running_loop()
    silence = Silence(idle=1.0, deadline=loop.time() + 0.2)
    with pytest.raises(TimeoutError):
        await read_all(silence, pieces([0.05] * 20))


async def test_a_cancellation_from_outside_is_not_turned_into_a_timeout():
    loop = asyncio.get_running_loop()
    silence = Silence(idle=0.1, deadline=loop.time() + 10)
    reader = asyncio.create_task(read_all(silence, pieces([5.0])))
    await asyncio.sleep(0.02)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
