"""The Teams ReplyStream for group chats and channels: post once, then edit.

Teams streams only in personal chats (elsewhere it answers 405), so here the reply is posted
as soon as there is something to say (the status line, or the first text) and then edited
with ``updateActivity`` about once a second as the answer grows. The last edit carries the
AI label, citations and feedback buttons. Refused edits (429/412/502/504) are retried with
backoff and jitter; if the message cannot be edited at all, the answer is posted anew.

An answer given again after an earlier attempt died edits that attempt's message
(``resume_id``) instead of posting a second one; ``on_posted`` hears of the message it posts, so
a later attempt can do the same.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from botbuilder.schema import Activity

from bots.teams.cards import answer_activity, plain_message
from bots.teams.delivery import Outbox
from bots.teams.pacing import PacedReply, split_text
from core.answers import Answer
from core.errors import PlatformError

log = structlog.get_logger(__name__)


class TeamsEditingReply(PacedReply):
    """``ReplyStream`` for a group chat or channel thread: one message, edited as it grows."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        interval_s: float = 1.0,
        max_chars: int = 16000,
        resume_id: str | None = None,
        on_posted: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(interval_s=interval_s)
        self._outbox = outbox
        self._max_chars = max_chars
        # An earlier attempt's message: edited as if this reply had posted it.
        self._message_id: str | None = resume_id
        self._on_posted = on_posted
        self._shown = ""
        self._broken = False

    @property
    def message_id(self) -> str | None:
        """The message the user sees this reply in (posted here, or by an earlier attempt)."""
        return self._message_id

    def kept(self) -> Mapping[str, object] | None:
        """The message a later attempt edits into the answer rather than post a second one."""
        return {"activity_id": self._message_id} if self._message_id else None

    def _visible(self) -> str:
        return split_text(self._text, self._max_chars)[0] if self._text else ""

    def _next_call(self) -> Callable[[], Awaitable[object]] | None:
        if self._broken:
            return None
        visible = self._visible()
        if self._message_id is None:
            first = visible if visible.strip() else (f"_{self._status}_" if self._status else "")
            return (lambda: self._post_first(first)) if first else None
        if visible.strip() and visible != self._shown:
            return lambda: self._edit(plain_message(visible), visible)
        return None

    async def _post_first(self, text: str) -> None:
        try:
            self._message_id = await self._outbox.send(plain_message(text))
        except PlatformError as exc:
            self._broken = True
            log.warning("teams_reply_post_failed", status=exc.status, reason=str(exc))
            return
        self._shown = text
        if self._on_posted is not None and self._message_id:
            self._on_posted(self._message_id)
        if text == self._visible() and self.first_text_sent_at is None:
            self.first_text_sent_at = time.monotonic()

    async def _edit(self, activity: Activity, text: str) -> bool:
        assert self._message_id is not None
        try:
            await self._outbox.update(self._message_id, activity)
        except PlatformError as exc:
            self._broken = True
            log.warning("teams_reply_edit_failed", status=exc.status, reason=str(exc))
            return False
        self._shown = text
        if self.first_text_sent_at is None:
            self.first_text_sent_at = time.monotonic()
        return True

    async def finish(self, answer: Answer) -> None:
        await self._close_pump()
        parts = [p for p in split_text(answer.text, self._max_chars) if p.strip()] or [answer.text]
        rest = parts
        if self._message_id is not None and not self._broken:
            first = answer_activity(
                parts[0], answer.citations, feedback=len(parts) == 1, card=len(parts) == 1
            )
            await self._turn()
            edited = False

            async def call() -> None:
                nonlocal edited
                edited = await self._edit(first, parts[0])

            await self._paced(call)
            if edited:
                self.activity_ids.append(self._message_id)
                rest = parts[1:]
        for index, part in enumerate(rest):
            last = index == len(rest) - 1
            activity = answer_activity(part, answer.citations, feedback=last, card=last)
            self.activity_ids.append(await self._outbox.send(activity))

    async def fail(self, reason: str) -> None:
        await self._close_pump()
        if self._message_id is not None and not self._broken:
            text = f"{self._text.rstrip()}\n\n{reason}" if self._text.strip() else reason
            await self._turn()
            if await self._edit(plain_message(text), text):
                return
        posted = await self._outbox.send(plain_message(reason))
        if posted:
            # The message to edit if the event is answered again (``message_id``).
            self._message_id = posted
