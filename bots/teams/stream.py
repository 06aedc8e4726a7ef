"""The Teams ReplyStream for personal chats: Teams' streaming protocol.

One stream per answer: an informative update ("Searching HR documents…"), then ``typing``
activities whose ``streaminfo`` entity has an increasing ``streamSequence`` and whose text is
everything so far, one request at a time and at most one a second; then a ``message`` with
``streamType: final``, the same ``streamId`` and exactly the text last streamed, carrying the
AI label, the citations and the feedback buttons. The first request's answer names the stream.

Teams refuses with 403 ``ContentStreamNotAllowed`` when the user pressed Stop (we stop
quietly; the answer is stored anyway), when the stream ran past two minutes or grew too
large (the answer is then posted as an ordinary message), and with 405 where streaming is not
offered (the answer is posted once it is ready). Before the two minutes are up the stream is
closed with what it shows and the rest follows as a second message.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from botbuilder.schema import Activity, ActivityTypes

from bots.teams.cards import answer_activity, clip, plain_message, stream_info
from bots.teams.delivery import Outbox
from bots.teams.escaping import no_mentions
from bots.teams.pacing import PacedReply, split_text
from core.answers import Answer
from core.errors import PlatformError

log = structlog.get_logger(__name__)

INFORMATIVE_CHARS = 1000
STILL_WORKING = "Still working on it — the rest of the answer follows below."

OPEN = "open"  # streaming
STOPPED = "stopped"  # the user pressed Stop: send nothing more
BROKEN = "broken"  # the stream is gone (time limit, too large, 405): post the answer anew
CLOSED_EARLY = "closed_early"  # closed before the time limit: post the rest anew
DONE = "done"


class TeamsStreamingReply(PacedReply):
    """``ReplyStream`` for a personal chat, streamed with Teams' streaming protocol."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        interval_s: float = 1.0,
        max_seconds: float = 110.0,
        max_chars: int = 16000,
    ) -> None:
        super().__init__(interval_s=interval_s)
        self._outbox = outbox
        self._max_seconds = max_seconds
        self._max_chars = max_chars
        self._state = OPEN
        self._stream_id: str | None = None
        self._sequence = 0
        self._started_at: float | None = None
        self._informed = False
        self._sent = ""  # the text of the last streaming request
        self._closed_with = ""  # the text the stream was closed with, when closed early

    @property
    def outcome(self) -> str:
        return self._state

    # -- the pump ---------------------------------------------------------------------------

    def _visible(self) -> str:
        """What the stream may show now: the text, up to the first message's worth."""
        if len(self._text) <= self._max_chars:
            return self._text
        return split_text(self._text, self._max_chars, keep=len(self._sent))[0]

    def _next_call(self) -> Callable[[], Awaitable[object]] | None:
        if self._state != OPEN:
            return None
        if self._started_at is not None and time.monotonic() - self._started_at > self._max_seconds:
            return self._close_early
        visible = self._visible()
        if visible.strip() and visible != self._sent:
            return lambda: self._request("streaming", visible)
        if not self._informed and not self._sent and self._status:
            return lambda: self._request("informative", clip(self._status or "", INFORMATIVE_CHARS))
        return None

    async def _request(self, kind: str, text: str) -> None:
        entity = stream_info(kind, sequence=self._sequence + 1, stream_id=self._stream_id)
        activity = Activity(type=ActivityTypes.typing, text=no_mentions(text), entities=[entity])
        if self._started_at is None:
            self._started_at = time.monotonic()
        try:
            stream_id = await self._outbox.send(activity)
        except PlatformError as exc:
            self._refused(exc)
            return
        self._sequence += 1
        self._stream_id = self._stream_id or stream_id
        if kind == "informative":
            self._informed = True
        else:
            self._sent = text
            if self.first_text_sent_at is None:
                self.first_text_sent_at = time.monotonic()

    def _refused(self, exc: PlatformError) -> None:
        message = str(exc).lower()
        if exc.status == 403 and "cancel" in message:
            self._state = STOPPED
            log.info("teams_stream_stopped_by_user", stream_id=self._stream_id)
        else:
            self._state = BROKEN
            log.info(
                "teams_stream_ended", stream_id=self._stream_id, status=exc.status, reason=str(exc)
            )

    async def _final(self, text: str, answer: Answer | None, *, last: bool) -> bool:
        """Close the stream showing ``text``; False when Teams would not take it."""
        if answer is not None:
            activity = answer_activity(
                text, answer.citations, stream_id=self._stream_id, feedback=last, card=last
            )
        else:
            activity = plain_message(text)
            activity.entities = [stream_info("final", stream_id=self._stream_id)]
        try:
            await self._outbox.send(activity)
        except PlatformError as exc:
            self._refused(exc)
            return False
        if self._stream_id:
            self.activity_ids.append(self._stream_id)
        return True

    async def _close_early(self) -> None:
        """Two minutes are nearly up: close with what is shown; the rest follows later."""
        shown = self._sent or STILL_WORKING
        if await self._final(shown, None, last=False):
            self._state = CLOSED_EARLY
            self._closed_with = self._sent

    # -- the end ----------------------------------------------------------------------------

    async def finish(self, answer: Answer) -> None:
        await self._close_pump()
        # What was streamed can only grow; the checked text is used when it still does.
        text = answer.text if answer.text.startswith(self._sent) else self._text
        if self._state == STOPPED:
            return
        if self._state == OPEN and self._stream_id is not None:
            parts = split_text(text, self._max_chars, keep=len(self._sent))
            head = parts[0]
            if self._sent and head != self._sent:
                # The final message must show exactly what was streamed last.
                await self._turn()
                await self._paced(lambda: self._request("streaming", head))
            if self._state == OPEN:
                await self._turn()
                closed = await self._paced_final(head, answer, last=len(parts) == 1)
                if closed:
                    self._state = DONE
                    await self._post(parts[1:], answer)
                    return
        if self._state == STOPPED:
            return
        if self._state == CLOSED_EARLY:
            rest = text.removeprefix(self._closed_with)
            self._state = DONE
            await self._post(split_text(rest.lstrip(), self._max_chars), answer)
            return
        # Never started, or the stream broke: the whole answer as ordinary messages.
        self._state = DONE
        await self._post(split_text(text, self._max_chars), answer)

    async def _paced_final(self, text: str, answer: Answer, *, last: bool) -> bool:
        result = False

        async def call() -> None:
            nonlocal result
            result = await self._final(text, answer, last=last)

        await self._paced(call)
        return result

    async def _post(self, parts: list[str], answer: Answer) -> None:
        parts = [p for p in parts if p.strip()]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            activity = answer_activity(part, answer.citations, feedback=last, card=last)
            self.activity_ids.append(await self._outbox.send(activity))

    async def fail(self, reason: str) -> None:
        await self._close_pump()
        if self._state == STOPPED:
            return
        if self._state == OPEN and self._stream_id is not None:
            await self._turn()
            if self._sent:
                closed = await self._final_plain(self._sent)
                self._state = DONE
                if closed:
                    await self._outbox.send(plain_message(reason))
                    return
            elif await self._final_plain(reason):
                self._state = DONE
                return
        self._state = DONE
        await self._outbox.send(plain_message(reason))

    async def _final_plain(self, text: str) -> bool:
        result = False

        async def call() -> None:
            nonlocal result
            result = await self._final(text, None, last=True)

        await self._paced(call)
        return result
