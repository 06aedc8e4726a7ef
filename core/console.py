"""ReplyStreams for a terminal and for callers that only want the finished answer."""

from __future__ import annotations

import sys
from typing import TextIO

from core.answers import Answer, Citation


def format_source(citation: Citation) -> str:
    where = citation.url or citation.path or ""
    place = f", p. {citation.page}" if citation.page is not None else (
        f" › {citation.section}" if citation.section else ""
    )
    return f"[{citation.n}] {citation.title}{place} — {where}"


class ConsoleReplyStream:
    """Writes the answer to a terminal as it arrives, status lines to stderr, sources last."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._status_shown = False

    async def status(self, text: str) -> None:
        if self._err.isatty():
            self._err.write(f"\r\033[2m{text}\033[0m")
            self._status_shown = True
        else:
            self._err.write(text + "\n")
        self._err.flush()

    def _clear_status(self) -> None:
        if self._status_shown:
            self._err.write("\r\033[K")
            self._err.flush()
            self._status_shown = False

    async def append(self, delta: str) -> None:
        self._clear_status()
        self._out.write(delta)
        self._out.flush()

    async def finish(self, answer: Answer) -> None:
        self._clear_status()
        self._out.write("\n")
        if answer.citations:
            self._out.write("\nSources:\n")
            for citation in answer.citations:
                self._out.write(format_source(citation) + "\n")
        self._out.flush()

    async def fail(self, reason: str) -> None:
        self._clear_status()
        self._err.write(reason + "\n")
        self._err.flush()


class CollectingReplyStream:
    """Keeps everything it is told, for ``ask --json`` and for tests."""

    def __init__(self) -> None:
        self.statuses: list[str] = []
        self.deltas: list[str] = []
        self.answer: Answer | None = None
        self.failure: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    async def status(self, text: str) -> None:
        self.statuses.append(text)

    async def append(self, delta: str) -> None:
        self.deltas.append(delta)

    async def finish(self, answer: Answer) -> None:
        self.answer = answer

    async def fail(self, reason: str) -> None:
        self.failure = reason
