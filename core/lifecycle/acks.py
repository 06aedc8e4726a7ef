"""Acknowledgements before answers.

Slack wants every event acknowledged within 3 s. When a burst arrives (an all-hands message
sends 2,000 people to the bot at once), each acknowledged event starts an answer, and on one
event loop those answers' database and model work would slow down the acknowledgements still
queued behind them. ``AckFirst`` lets answers wait while many requests are being acknowledged,
so the burst is acknowledged first; the wait is bounded, so a sustained flood of requests only
delays answers, never starves them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class AckFirst:
    """Counts requests being acknowledged; ``settled()`` waits until at most ``threshold``
    are, or ``max_wait_s`` has passed."""

    def __init__(self, *, threshold: int = 16, max_wait_s: float = 3.0) -> None:
        self._threshold = threshold
        self._max_wait_s = max_wait_s
        self._in_flight = 0
        self._calm = asyncio.Event()
        self._calm.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Around the handling of one request, up to its acknowledgement."""
        self._in_flight += 1
        if self._in_flight > self._threshold:
            self._calm.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight <= self._threshold:
                self._calm.set()

    async def settled(self) -> None:
        """Return once the acknowledgements in flight are few (or after ``max_wait_s``)."""
        if self._calm.is_set():
            return
        try:
            await asyncio.wait_for(self._calm.wait(), self._max_wait_s)
        except TimeoutError:
            pass
