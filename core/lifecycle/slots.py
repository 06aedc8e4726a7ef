"""How many answers one process works on at once: as many as its event loop keeps up with.

A fixed number is a guess about the model's speed, the answers' length and the machine. Too
few, and in a burst the replica idles while people wait in the queue (at 80 one replica used
half a core and took 95 s to reach the 2,000th person); too many, and every answer's text
comes late because the loop is always behind. ``AnswerSlots`` measures the loop instead: every
tick (0.1 s) while at least ``floor`` answers run or any wait, it notes how late the tick
woke. Late (over the target), and the limit drops below the number running, so none start
until some finish; on time (under half the target), and it rises by a twentieth. It never
goes above the ceiling (``SLACK_MAX_ANSWERS``), which still bounds the database pool's queue,
nor below the floor.

Answers already running are never stopped; a lower limit only holds the next ones back.
Waiting answers start in the order they came.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

TICK_S = 0.1


class AnswerSlots:
    """``async with slots:`` around one answer. ``limit`` follows the loop's lag between
    ``floor`` and ``ceiling``; ``observe(lag)`` is what the ticks feed it."""

    def __init__(
        self, ceiling: int, *, lag_target_s: float = 0.05, floor: int = 16, tick_s: float = TICK_S
    ) -> None:
        self.ceiling = ceiling
        self.floor = max(1, min(floor, ceiling))
        self.lag_target_s = lag_target_s
        self.limit = ceiling
        self.running = 0
        self.lag_s = 0.0  # the last tick's
        self._tick_s = tick_s
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._watching: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def __aenter__(self) -> None:
        if self.running < self.limit and not self._waiters:
            self.running += 1
            self._watch_if_busy()
            return
        slot = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        self._watch_if_busy()
        try:
            await slot  # ``_admit`` counts us in before it wakes us
        except BaseException:  # cancelled, or closed at shutdown
            if slot.done() and not slot.cancelled():
                self._release()  # given a slot in the same step as the cancellation
            elif slot in self._waiters:  # ``_admit`` may have dropped it already
                self._waiters.remove(slot)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def observe(self, lag_s: float) -> None:
        """Move the limit after a tick that woke ``lag_s`` late."""
        self.lag_s = lag_s
        if lag_s > self.lag_target_s:
            self.limit = max(self.floor, min(self.limit, self.running * 9 // 10))
        elif lag_s < self.lag_target_s / 2 and self.limit < self.ceiling:
            self.limit = min(self.ceiling, self.limit + max(1, self.limit // 20))
            self._admit()

    def _release(self) -> None:
        self.running -= 1
        self._admit()

    def _admit(self) -> None:
        while self._waiters and self.running < self.limit:
            slot = self._waiters.popleft()
            if not slot.done():
                self.running += 1
                slot.set_result(None)

    def _busy(self) -> bool:
        return self.running >= self.floor or bool(self._waiters)

    def _watch_if_busy(self) -> None:
        if (self._watching is None or self._watching.done()) and self._busy():
            self._watching = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        """Tick while busy. Below the floor the limit cannot matter, and a tick is not free: on
        an idle loop each wake-up costs about 0.1 ms of CPU. Quiet again, the limit goes back to
        the ceiling, so the next burst starts at full speed and is slowed only if it must be."""
        loop = asyncio.get_running_loop()
        try:
            while self._busy():
                due = loop.time() + self._tick_s
                await asyncio.sleep(self._tick_s)
                self.observe(max(0.0, loop.time() - due))
            self.limit = self.ceiling
            self.lag_s = 0.0
        finally:
            self._watching = None
