"""How long a streamed answer may go quiet: one timer per stream, not one per chunk.

A timeout scope around every read (``asyncio.timeout_at``) makes, schedules and cancels a timer
for each of an answer's chunks; at a hundred chunks an answer that was about a quarter of the
CPU spent reading the model's stream (docs/benchmarks.md, latency, round nine). ``Silence``
sets one timer and moves it on only when it goes off: a read that has waited ``idle`` seconds,
or is still waiting at the deadline, is cancelled and raises ``TimeoutError``, as it would
under ``asyncio.timeout_at``. Between reads (while the caller shows the text) nothing counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


class Silence:
    """The idle and total timeouts of one stream's reads. ``await next(items)`` for each
    read; ``close()`` when done reading."""

    def __init__(self, idle: float, deadline: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle = idle
        self._deadline = deadline
        self._task: asyncio.Task[object] | None = None
        self._since = 0.0  # when the read now waiting began
        self._waiting = False
        self._cancelling = 0
        self._expired = False
        self._timer: asyncio.TimerHandle | None = None

    async def next(self, items: AsyncIterator[T]) -> T:
        """The next item; ``TimeoutError`` when it does not come in time."""
        task = self._task = asyncio.current_task()  # whoever reads now is the one to stop
        assert task is not None, "Silence.next runs in a task"
        self._since = self._loop.time()
        if self._since >= self._deadline:
            raise TimeoutError
        if self._timer is None:
            self._timer = self._loop.call_at(self._end(), self._check)
        self._cancelling = task.cancelling()
        self._waiting = True
        try:
            return await anext(items)
        except asyncio.CancelledError:
            if self._expired and task.uncancel() <= self._cancelling:
                raise TimeoutError from None
            raise
        finally:
            self._waiting = False

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _end(self) -> float:
        return min(self._since + self._idle, self._deadline)

    def _check(self) -> None:
        self._timer = None
        if not self._waiting or self._task is None:
            return  # set again by the next read
        end = self._end()
        if self._loop.time() >= end:
            self._expired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(end, self._check)
