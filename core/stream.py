"""The one door from the core to a platform: a stream for one answer."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.answers import Answer


@runtime_checkable
class ReplyStream(Protocol):
    """Shows one answer to the user while it is written.

    The core calls ``status`` (zero or more times), then ``append`` with each piece of text as
    the model produces it, then exactly one of ``finish`` or ``fail``. An adapter coalesces
    appends and paces platform calls itself; ``append`` must return quickly.
    """

    async def status(self, text: str) -> None: ...

    async def append(self, delta: str) -> None: ...

    async def finish(self, answer: Answer) -> None: ...

    async def fail(self, reason: str) -> None: ...
