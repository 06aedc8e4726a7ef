"""What the two Teams reply streams share: text that grows, platform calls paced one at a time,
and long answers cut into messages Teams accepts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog

log = structlog.get_logger(__name__)

_BOUNDARIES = ("\n\n", "\n", ". ", " ")


def _cut(text: str, limit: int, floor: int) -> int:
    """Where to end a part of ``text``: the last paragraph, line, sentence or word boundary in
    ``[floor, limit]``, else ``limit`` itself."""
    if floor >= limit:
        return limit
    window = text[:limit]
    for boundary in _BOUNDARIES:
        at = window.rfind(boundary, floor)
        if at > 0 and at + len(boundary) > floor:
            return at + len(boundary)
    return limit


def split_text(text: str, limit: int, *, keep: int = 0) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at natural boundaries.

    The first part is at least ``keep`` characters long: text already shown to the user (a
    streamed prefix) can only grow. Joined, the parts give back ``text`` exactly.
    """
    parts: list[str] = []
    rest = text
    floor = min(keep, limit)
    while len(rest) > limit:
        cut = _cut(rest, limit, floor)
        parts.append(rest[:cut])
        rest = rest[cut:]
        floor = 0
    parts.append(rest)
    return parts


class PacedReply:
    """A reply whose platform calls go one at a time, at least ``interval_s`` apart (measured
    from the end of one call to the start of the next), from a single pump task.

    Subclasses say what the next call is (``_next_call``); ``append`` only records text and
    wakes the pump, so the core is never held up by the platform.
    """

    def __init__(self, *, interval_s: float) -> None:
        self._interval = interval_s
        self._text = ""
        self._status: str | None = None
        self._closing = False
        self._wake = asyncio.Event()
        self._ready_at = 0.0
        self._pump: asyncio.Task[None] | None = None
        self.activity_ids: list[str] = []
        self.first_text_sent_at: float | None = None

    @property
    def closed(self) -> bool:
        """``finish`` or ``fail`` has begun."""
        return self._closing

    @property
    def delivered(self) -> bool:
        """Teams answers every call or raises: what it did not refuse, it took."""
        return True

    def kept(self) -> Mapping[str, object] | None:
        """What the next attempt needs to replace this one's messages: nothing, by default."""
        return None

    async def status(self, text: str) -> None:
        self._status = text
        self._kick()

    async def append(self, delta: str) -> None:
        self._text += delta
        self._kick()

    def _kick(self) -> None:
        if self._closing:
            return
        if self._pump is None:
            self._pump = asyncio.create_task(self._run(), name="teams-reply-pump")
        self._wake.set()

    async def _run(self) -> None:
        try:
            while not self._closing:
                await self._wake.wait()
                self._wake.clear()
                while not self._closing:
                    call = self._next_call()
                    if call is None:
                        break
                    await self._turn()
                    if self._closing:
                        break
                    await self._paced(call)
        except Exception:
            log.exception("teams_reply_pump_failed")

    def _next_call(self) -> Callable[[], Awaitable[object]] | None:
        raise NotImplementedError

    async def _turn(self) -> None:
        """Wait until the platform may be called again."""
        delay = self._ready_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _paced(self, call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        finally:
            self._ready_at = time.monotonic() + self._interval

    async def _close_pump(self) -> None:
        """Stop the pump after the call it may be making; the caller finishes by itself."""
        self._closing = True
        self._wake.set()
        if self._pump is not None:
            await self._pump
