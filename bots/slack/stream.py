"""The Slack ReplyStream: one answer shown live in a thread, paced inside the workspace's budget.

The core calls ``append`` as text arrives and never waits on Slack: a worker task sends what has
piled up whenever the budget allows, so text is coalesced rather than dropped. How the answer
reaches Slack, best first:

1. **Streaming** — ``chat.startStream`` / ``appendStream`` / ``stopStream`` through slack_sdk's
   ``chat_stream``; sources and 👍/👎 go in the ``stopStream`` blocks. Chosen when a
   ``startStream`` slot (Tier 2, 20 a minute per workspace) is free right now.
2. **Placeholder and updates** — ``chat.postMessage`` with the text so far, then ``chat.update``
   (Tier 3, 50 a minute shared by every answer in the workspace) when a slot is free. If the
   last update cannot get a slot soon, the rest follows as a new message: never lost.

A message holds at most 12,000 characters; longer answers continue in the next message, split
at a paragraph or line where possible. A stream Slack has closed on its own (after about five
minutes: ``message_not_in_streaming_state``) is finished with ``chat.update``.

An answer given again after an earlier attempt died (``resume``: the messages that attempt
posted) reuses those messages in order — their streams stopped, their text replaced with
``chat.update`` — so the thread ends up with one answer, not a half one and a whole one.
``on_progress`` hears of every message the answer posts and of the stored answer's id, so a
later attempt can do the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.models.messages.chunk import MarkdownTextChunk
from slack_sdk.web.async_chat_stream import AsyncChatStream

from bots.slack import escaping
from bots.slack.blocks import (
    MESSAGE_CHARS,
    Block,
    answer_blocks,
    markdown,
    notification,
    split,
    take,
)
from bots.slack.calls import SlackCalls, describe, slack_error
from bots.slack.pacing import TIER
from core.answers import Answer

log = structlog.get_logger(__name__)

EXPIRED = "message_not_in_streaming_state"
KEEP_FOR_FINAL_UPDATES = TIER[3] // 2
# startStream errors that mean "no streaming in this workspace", not "this one call failed".
UNAVAILABLE = {
    "unknown_method",
    "not_allowed",
    "feature_not_enabled",
    "method_not_supported",
    "missing_scope",
    "not_allowed_token_type",
    "access_denied",
}

# chat.update errors that mean an earlier attempt's message cannot be reused.
LOST = {"message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found"}


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where an answer goes: a thread in a channel of a workspace, for one person.

    ``assistant_thread`` is true in the app's own DM (the agent pane), where
    ``assistant.threads.setStatus`` can show "is thinking…".
    """

    team_id: str
    token: str | None
    channel: str
    thread_ts: str
    user_id: str
    user_team_id: str
    assistant_thread: bool = False


@dataclass(frozen=True, slots=True)
class StreamPacing:
    """How often one answer may call Slack, on top of the workspace's budget."""

    streaming: bool = True
    append_interval_s: float = 1.0
    update_interval_s: float = 1.5
    final_update_wait_s: float = 2.0
    status_interval_s: float = 2.0


@dataclass(slots=True)
class _Part:
    """One Slack message of the answer and the text it shows."""

    ts: str
    mode: Literal["stream", "post"]
    text: str = ""
    streamer: AsyncChatStream | None = None
    sent_at: float = 0.0
    full: bool = False


class SlackReplyStream:
    """Shows one answer in one Slack thread (see the module docstring for how)."""

    def __init__(
        self,
        calls: SlackCalls,
        target: ReplyTarget,
        pacing: StreamPacing = StreamPacing(),
        *,
        resume: Sequence[str] = (),
        on_progress: Callable[[Mapping[str, object]], None] | None = None,
    ) -> None:
        self._calls = calls
        self._target = target
        self._pacing = pacing
        # Messages an earlier attempt at this answer posted: reused before posting new ones.
        self._reuse = [str(ts) for ts in resume if ts]
        self._on_progress = on_progress
        self._pending = ""
        self._parts: list[_Part] = []
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._answer: Answer | None = None
        self._failure: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._status_at: float | None = None
        self._status_at_slack: float | None = None  # when Slack confirmed the status
        #: When the first text arrived from the core, and when it left for Slack (monotonic).
        self.first_text_in: float | None = None
        self.first_text_out: float | None = None
        self.delivered = False
        self.streamed = False

    @property
    def closed(self) -> bool:
        """``finish`` or ``fail`` was called."""
        return self._closing.is_set()

    @property
    def message_ts(self) -> list[str]:
        """The messages this answer posted, in order."""
        return [part.ts for part in self._parts]

    @property
    def shown_ts(self) -> list[str]:
        """Every message of this answer in the thread: its own, then those of an earlier
        attempt it has not reused yet (what a later attempt must finish or replace)."""
        return self.message_ts + self._reuse

    def kept(self) -> Mapping[str, object]:
        """What the next attempt needs: every message of this answer in the thread."""
        return {"ts": self.shown_ts}

    # -- ReplyStream ---------------------------------------------------------------------------

    async def status(self, text: str) -> None:
        if not self._target.assistant_thread or self._parts or self._closing.is_set():
            return
        now = time.monotonic()
        if self._status_at is not None and now - self._status_at < self._pacing.status_interval_s:
            return
        if self._status_task is not None and not self._status_task.done():
            return
        self._status_at = now
        # Off the core's path: the status is a nicety, the answer must not wait for it.
        self._status_task = asyncio.create_task(self._set_status(text))

    async def append(self, delta: str) -> None:
        if self._closing.is_set() or not delta:
            return
        if self.first_text_in is None:
            self.first_text_in = time.monotonic()
        self._pending += delta
        self._start_worker()
        self._wake.set()

    async def finish(self, answer: Answer) -> None:
        self._answer = answer
        if answer.message_id is not None:
            self._progress({"message_id": answer.message_id})
        await self._close_and_wait()

    async def fail(self, reason: str) -> None:
        self._failure = reason
        await self._close_and_wait()

    # -- the worker ----------------------------------------------------------------------------

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run())

    async def _close_and_wait(self) -> None:
        self._closing.set()
        self._wake.set()
        self._start_worker()
        assert self._worker is not None
        await asyncio.shield(self._worker)

    async def _run(self) -> None:
        try:
            while not self._closing.is_set():
                await self._wake.wait()
                self._wake.clear()
                if self._closing.is_set() or not self._pending:
                    continue
                try:
                    await self._push()
                except (TimeoutError, SlackApiError, OSError) as exc:
                    # The text stays pending; the final flush tries again.
                    log.warning("slack_stream_push_failed", error=describe(exc))
                    await self._pause(1.0)
            await self._close()
            await self._drop_unused()
            self.delivered = True
        except Exception:
            log.exception(
                "slack_answer_not_delivered",
                channel=self._target.channel,
                thread_ts=self._target.thread_ts,
            )

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the answer finishes first; True when the time passed."""
        if seconds <= 0:
            return not self._closing.is_set()
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def _push(self) -> None:
        """Send what is pending now, within the pacing; the end of the answer comes in _close."""
        part = self._parts[-1] if self._parts else None
        if part is None or part.full:
            await self._open()
            return
        now = time.monotonic()
        if part.mode == "stream":
            if not await self._pause(part.sent_at + self._pacing.append_interval_s - now):
                return
            wait = await self._calls.reserve(self._target.team_id, "chat.appendStream")
            if not await self._pause(wait or 0.0):
                return
            head, rest = take(self._pending, MESSAGE_CHARS - len(part.text))
            if rest:
                # The message is full: its stream ends here, the rest opens the next one.
                await self._stop(part, head, None)
            else:
                await self._append(part, head)
            return
        if not await self._pause(part.sent_at + self._pacing.update_interval_s - now):
            return
        # Progress updates leave half of the workspace's Tier-3 budget to final updates.
        wait = await self._calls.reserve(
            self._target.team_id, "chat.update", max_wait=0, keep=KEEP_FOR_FINAL_UPDATES
        )
        if wait is None:
            if await self._pause(self._pacing.update_interval_s):
                self._wake.set()  # the budget was full; look again later
            return
        head, rest = take(self._pending, MESSAGE_CHARS - len(part.text))
        await self._update(part, part.text + head, None, reserved=True)
        self._commit(part, head)
        part.full = bool(rest)

    async def _close(self) -> None:
        """Everything that is left, the sources and the feedback buttons; streams stopped."""
        await self._status_settled()
        if (
            self._status_at_slack is not None
            and self.first_text_out is not None
            and (self._status_at_slack > self.first_text_out)
        ):
            # The status landed after the answer began, so Slack did not clear it for us.
            await self._clear_status()
        extra: list[Block] = []
        if self._failure is not None:
            shown = bool(self._pending or any(p.text for p in self._parts))
            self._pending += ("\n\n" if shown else "") + f"_{self._failure}_"
        elif self._answer is not None:
            self._reconcile(self._answer.text)
            extra = answer_blocks(self._answer)
        while True:
            part = self._parts[-1] if self._parts else None
            if part is None or part.full:
                pieces = split(self._pending) or [""]
                for index, piece in enumerate(pieces):
                    last = index == len(pieces) - 1
                    if piece or (last and extra):
                        await self._post(piece, extra if last else None)
                return
            head, rest = take(self._pending, MESSAGE_CHARS - len(part.text))
            last = not rest
            if part.mode == "stream":
                team = self._target.team_id
                wait = await self._calls.reserve(team, "chat.stopStream", max_wait=1.0)
                if wait is None and head:
                    # Stops are scarce (Tier 2): show the text now with an append and let the
                    # stop, which brings sources and buttons, wait for its turn.
                    slot = await self._calls.reserve(team, "chat.appendStream", max_wait=2.0)
                    if slot is not None:
                        await asyncio.sleep(slot)
                        await self._append(part, head)
                        continue
                if wait is not None:
                    await asyncio.sleep(wait)
                stopped = await self._stop(
                    part, head, extra if last else None, reserved=wait is not None
                )
                if stopped and last:
                    return
                continue  # stopped and more to come, or expired (now a posted message)
            if head or (last and extra):
                wait = await self._calls.reserve(
                    self._target.team_id, "chat.update", max_wait=self._pacing.final_update_wait_s
                )
                if wait is None:
                    part.full = True  # it keeps what it shows; the rest follows below it
                    continue
                await asyncio.sleep(wait)
                await self._update(part, part.text + head, extra if last else None, reserved=True)
                self._commit(part, head)
            part.full = True
            if last:
                return

    def _reconcile(self, final: str) -> None:
        """The stored answer may differ from what streamed (citation markers that matched no
        source are dropped): show the stored text for whatever has not been sent yet."""
        shown = "".join(part.text for part in self._parts)
        if shown + self._pending == final:
            return
        if final.startswith(shown):
            self._pending = final[len(shown) :]
        else:
            log.info("slack_streamed_text_differs", shown=len(shown), final=len(final))

    def _commit(self, part: _Part, head: str) -> None:
        # Appends only ever add to the end, so the sent head is still the start of pending.
        self._pending = self._pending[len(head) :]
        part.text += head
        part.sent_at = time.monotonic()

    def _first_text(self) -> None:
        if self.first_text_out is None:
            self.first_text_out = time.monotonic()

    # -- Slack calls ---------------------------------------------------------------------------

    async def _open(self) -> None:
        """The first message of the answer, or the next one after a full one."""
        head, rest = take(self._pending, MESSAGE_CHARS)
        part: _Part | None = None
        if (
            not self._reuse
            and self._pacing.streaming
            and self._target.team_id not in self._calls.streaming_unavailable
        ):
            wait = await self._calls.reserve(self._target.team_id, "chat.startStream", max_wait=0)
            if wait is not None:
                part = await self._start_stream(head)
        if part is None:
            ts = await self._post(head, None, commit=False)
            part = _Part(ts=ts, mode="post")
            self._parts.append(part)
            self._posted()
        self._commit(part, head)
        part.full = bool(rest)

    async def _start_stream(self, head: str) -> _Part | None:
        t = self._target
        streamer = await self._calls.client.chat_stream(
            channel=t.channel,
            thread_ts=t.thread_ts,
            recipient_team_id=t.user_team_id,
            recipient_user_id=t.user_id,
            buffer_size=1,
            token=t.token,
        )
        self._first_text()
        try:
            # Text goes as chunks, never through the helper's own buffer: a retried call must
            # not send the same words twice.
            await self._calls.paced(
                t.team_id,
                "chat.startStream",
                lambda: streamer.append(chunks=[MarkdownTextChunk(text=escaping.markdown(head))]),
                reserved=True,
            )
        except SlackApiError as exc:
            error = slack_error(exc)
            log.warning("slack_stream_unavailable", error=error, team_id=t.team_id)
            if error in UNAVAILABLE:
                self._calls.streaming_unavailable.add(t.team_id)
            return None
        if not streamer.ts:
            return None
        part = _Part(ts=streamer.ts, mode="stream", streamer=streamer)
        self._parts.append(part)
        self._posted()
        self.streamed = True
        return part

    async def _append(self, part: _Part, head: str) -> None:
        assert part.streamer is not None
        streamer = part.streamer
        try:
            await self._calls.paced(
                self._target.team_id,
                "chat.appendStream",
                lambda: streamer.append(chunks=[MarkdownTextChunk(text=escaping.markdown(head))]),
                reserved=True,
            )
        except SlackApiError as exc:
            if slack_error(exc) != EXPIRED:
                raise
            self._expired(part)
            return
        self._commit(part, head)

    async def _stop(
        self, part: _Part, head: str, extra: list[Block] | None, *, reserved: bool = False
    ) -> bool:
        """Stop ``part``'s stream with ``head`` (and ``extra`` blocks under it). False when
        Slack had already closed the stream; ``part`` is then a posted message to update."""
        assert part.streamer is not None
        streamer = part.streamer
        chunks = [MarkdownTextChunk(text=escaping.markdown(head))] if head else None
        try:
            await self._calls.paced(
                self._target.team_id,
                "chat.stopStream",
                lambda: streamer.stop(chunks=chunks, blocks=extra or None),
                reserved=reserved,
            )
        except SlackApiError as exc:
            if slack_error(exc) != EXPIRED:
                raise
            self._expired(part)
            return False
        self._commit(part, head)
        part.full = True  # a stopped stream takes no more text
        return True

    def _expired(self, part: _Part) -> None:
        log.info("slack_stream_expired", channel=self._target.channel, ts=part.ts)
        part.mode, part.streamer = "post", None

    async def _post(self, text: str, extra: list[Block] | None, *, commit: bool = True) -> str:
        t = self._target
        self._first_text()
        ts = ""
        while self._reuse and not ts:
            old = self._reuse.pop(0)
            try:
                ts = await self._replace(old, text, extra)
            except SlackApiError as exc:
                if slack_error(exc) not in LOST:
                    self._reuse.insert(0, old)  # a passing failure: try this message again
                    raise
                # Deleted meanwhile, or no longer ours to edit: a new message takes its place.
                log.info("slack_resume_message_lost", ts=old, error=describe(exc))
        if not ts:
            response = await self._calls.api(
                t.team_id,
                "chat.postMessage",
                token=t.token,
                channel=t.channel,
                thread_ts=t.thread_ts,
                text=notification(text) or "Sources",
                blocks=_body(text, extra),
            )
            ts = str(response["ts"])
        if commit:
            part = _Part(ts=ts, mode="post", full=True)
            self._parts.append(part)
            self._posted()
            self._commit(part, text)
        return ts

    async def _replace(self, ts: str, text: str, extra: list[Block] | None) -> str:
        """Show ``text`` in a message an earlier attempt posted: its stream (if Slack has not
        closed it yet) is stopped first, since a streaming message cannot be updated."""
        t = self._target
        await self._calls.try_api(
            t.team_id, "chat.stopStream", token=t.token, channel=t.channel, ts=ts
        )
        await self._calls.api(
            t.team_id,
            "chat.update",
            token=t.token,
            channel=t.channel,
            ts=ts,
            text=notification(text) or "Sources",
            blocks=_body(text, extra),
        )
        return ts

    async def _drop_unused(self) -> None:
        """Messages of an earlier attempt this answer did not need (it came out shorter)."""
        t = self._target
        while self._reuse:
            ts = self._reuse.pop(0)
            await self._calls.try_api(
                t.team_id, "chat.stopStream", token=t.token, channel=t.channel, ts=ts
            )
            await self._calls.try_api(
                t.team_id, "chat.delete", token=t.token, channel=t.channel, ts=ts
            )

    def _posted(self) -> None:
        self._progress({"ts": self.shown_ts})

    def _progress(self, data: Mapping[str, object]) -> None:
        if self._on_progress is not None:
            self._on_progress(data)

    async def _update(
        self, part: _Part, text: str, extra: list[Block] | None, *, reserved: bool
    ) -> None:
        t = self._target
        await self._calls.api(
            t.team_id,
            "chat.update",
            token=t.token,
            reserved=reserved,
            channel=t.channel,
            ts=part.ts,
            text=notification(text) or "Sources",
            blocks=_body(text, extra),
        )

    async def _set_status(self, text: str) -> None:
        t = self._target
        wait = await self._calls.reserve(t.team_id, "assistant.threads.setStatus", max_wait=0)
        if wait is None:
            return  # a busy workspace skips the nicety rather than queue for it
        done = await self._calls.try_api(
            t.team_id,
            "assistant.threads.setStatus",
            token=t.token,
            reserved=True,
            channel_id=t.channel,
            thread_ts=t.thread_ts,
            status="is thinking…",
            loading_messages=[text],
        )
        if done is not None:
            self._status_at_slack = time.monotonic()

    async def _clear_status(self) -> None:
        t = self._target
        await self._calls.try_api(
            t.team_id,
            "assistant.threads.setStatus",
            token=t.token,
            channel_id=t.channel,
            thread_ts=t.thread_ts,
            status="",
        )

    async def _status_settled(self) -> None:
        # The first text never waits for the status; the end of the answer does, so a status
        # that lands late can be cleared rather than left showing "is thinking…".
        if self._status_task is not None and not self._status_task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._status_task), 5)
            except TimeoutError:
                self._status_task.cancel()


def _body(text: str, extra: list[Block] | None) -> list[Block]:
    blocks: list[Block] = [markdown(text)] if text else []
    return blocks + list(extra or [])


def describe_target(target: ReplyTarget) -> dict[str, Any]:
    """Log fields for a target, without its token."""
    return {"team_id": target.team_id, "channel": target.channel, "thread_ts": target.thread_ts}
