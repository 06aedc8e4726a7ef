"""Answers at once: as many as the event loop keeps up with, never more than the ceiling, never
fewer than the floor, and those held back start in the order they came."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.lifecycle.slots import AnswerSlots


async def _hold(slots: AnswerSlots, release: asyncio.Event, started: list[int], n: int) -> None:
    async with slots:
        started.append(n)
        await release.wait()


def _start(
    slots: AnswerSlots, release: asyncio.Event, started: list[int], numbers: range | list[int]
) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(_hold(slots, release, started, n)) for n in numbers]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_no_more_than_the_ceiling_run_and_the_rest_start_in_order():
    slots = AnswerSlots(3, floor=1, tick_s=60)
    release = asyncio.Event()
    started: list[int] = []
    answers = _start(slots, release, started, range(7))
    await _settle()
    assert started == [0, 1, 2] and slots.running == 3 and slots.waiting == 4
    release.set()
    await asyncio.gather(*answers)
    assert started == list(range(7))
    assert slots.running == 0 and slots.waiting == 0


async def test_a_loop_that_falls_behind_holds_the_next_answers_back():
    slots = AnswerSlots(100, floor=2, lag_target_s=0.05)
    release = asyncio.Event()
    started: list[int] = []
    first = _start(slots, release, started, range(10))
    await _settle()
    assert len(started) == 10
    time.sleep(0.3)  # noqa: ASYNC251 (the loop is stuck: the next tick wakes >= 0.2 s late)
    await asyncio.sleep(0.02)
    assert slots.lag_s > 0.05
    assert slots.limit < 10  # below the ten running: nothing new starts until some finish
    late = _start(slots, release, started, range(10, 13))
    await _settle()
    assert len(started) == 10 and slots.waiting == 3
    release.set()
    await asyncio.gather(*first, *late)
    assert sorted(started) == list(range(13))


async def test_ticks_on_time_raise_the_limit_back_to_the_ceiling_and_let_waiters_in():
    slots = AnswerSlots(40, floor=4, lag_target_s=0.05, tick_s=60)  # ticks by hand
    release = asyncio.Event()
    started: list[int] = []
    running = _start(slots, release, started, range(20))
    await _settle()
    slots.observe(0.5)
    assert slots.limit == 18  # nine tenths of the twenty running
    waiting = _start(slots, release, started, range(20, 30))
    await _settle()
    assert len(started) == 20
    slots.observe(0.04)  # late, but under the target: the limit holds
    assert slots.limit == 18
    for _ in range(6):
        slots.observe(0.001)
    await _settle()
    assert 24 <= slots.limit <= 40 and len(started) == min(30, slots.limit)
    for _ in range(40):
        slots.observe(0.001)
    assert slots.limit == 40
    await _settle()
    assert len(started) == 30
    release.set()
    await asyncio.gather(*running, *waiting)


async def test_once_the_burst_is_over_the_next_one_starts_at_the_ceiling():
    slots = AnswerSlots(40, floor=4, tick_s=0.01)
    release = asyncio.Event()
    started: list[int] = []
    burst = _start(slots, release, started, range(20))
    await _settle()
    slots.observe(1.0)
    assert slots.limit == 18
    release.set()
    await asyncio.gather(*burst)
    for _ in range(100):  # the ticks notice the quiet
        if slots.limit == 40:
            break
        await asyncio.sleep(0.01)
    assert slots.limit == 40
    release.clear()
    started.clear()
    burst = _start(slots, release, started, range(30))
    await _settle()
    assert len(started) == 30
    release.set()
    await asyncio.gather(*burst)


async def test_however_late_the_loop_the_floor_still_runs():
    slots = AnswerSlots(50, floor=5, tick_s=60)
    release = asyncio.Event()
    started: list[int] = []
    answers = _start(slots, release, started, range(3))
    await _settle()
    for _ in range(10):
        slots.observe(10.0)
    assert slots.limit == 5
    answers += _start(slots, release, started, range(3, 9))
    await _settle()
    assert len(started) == 5 and slots.waiting == 4
    release.set()
    await asyncio.gather(*answers)
    assert len(started) == 9


@pytest.mark.parametrize("freed_in_the_same_step", [False, True])
async def test_an_answer_cancelled_while_waiting_gives_its_turn_to_the_next(
    freed_in_the_same_step: bool,
):
    # Shutdown cancels every task in one go: a waiter's future is cancelled at once, and a
    # slot freed in the same step passes it by; the waiter must still end as cancelled.
    slots = AnswerSlots(1, tick_s=60)
    release = asyncio.Event()
    started: list[int] = []
    holder = asyncio.create_task(_hold(slots, release, started, 0))
    await _settle()
    gone, next_one = _start(slots, release, started, [1, 2])
    await _settle()
    if freed_in_the_same_step:
        release.set()
        gone.cancel()
    else:
        gone.cancel()
        release.set()
    await asyncio.gather(holder, next_one)
    await asyncio.gather(gone, return_exceptions=True)
    assert gone.cancelled()
    assert started == [0, 2] and slots.running == 0 and slots.waiting == 0


async def test_an_answer_cancelled_as_its_turn_came_returns_the_slot():
    slots = AnswerSlots(1, tick_s=60)
    release = asyncio.Event()
    release.set()
    started: list[int] = []
    await slots.__aenter__()  # an answer holds the only slot
    turn, last = _start(slots, release, started, [1, 2])
    await _settle()
    assert slots.waiting == 2
    await slots.__aexit__(None, None, None)  # hands the slot to ``turn`` …
    turn.cancel()  # … which is cancelled before it runs
    await last
    assert turn.cancelled() and started == [2]
    assert slots.running == 0 and slots.waiting == 0
