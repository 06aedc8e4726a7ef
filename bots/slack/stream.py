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
``chat.update`` — so the thread ends up with one answer, not a half one and a whole one. The
half answer stays on screen, untouched, until the new one is whole: it is replaced once, never
rewound to a first word and rebuilt.
``on_progress`` hears of every message the answer posts, so a later attempt can do the same
(the stored answer carries the event's key, so a later attempt deletes it by that).

The Web API calls themselves are ``bots.slack.messages``; the "is thinking…" status is
``bots.slack.status``; where the answer goes and how fast, ``bots.slack.target``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

import structlog
from slack_sdk.errors import SlackApiError

from bots.slack.blocks import MESSAGE_CHARS, Block, answer_blocks, split, take
from bots.slack.calls import SlackCalls, describe, slack_error
from bots.slack.messages import LOST, ThreadMessages
from bots.slack.pacing import TIER
from bots.slack.parts import Part, still_to_show
from bots.slack.status import ThinkingStatus
from bots.slack.target import DEFAULT_PACING, ReplyTarget, StreamPacing
from core.answers import Answer

log = structlog.get_logger(__name__)

KEEP_FOR_FINAL_UPDATES = TIER[3] // 2

class SlackReplyStream:
    """Shows one answer in one Slack thread (see the module docstring for how)."""

    def __init__(
        self,
        calls: SlackCalls,
        target: ReplyTarget,
        pacing: StreamPacing = DEFAULT_PACING,
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
        self._parts: list[Part] = []
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._answer: Answer | None = None
        self._failure: str | None = None
        self._worker: asyncio.Task[None] | None = None
        # This answer's name among the workspace's streams sharing the append budget.
        self._id = uuid.uuid4().hex
        self._sharing = False
        self._slack = ThreadMessages(calls, target)
        self._status = ThinkingStatus(calls, target, interval_s=pacing.status_interval_s)
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
        self._status.show(text)

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
            if self._sharing:
                await self._calls.pacer.appends.leave(self._target.team_id, self._id)
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
        if part is None and self._reuse and len(self._pending) < MESSAGE_CHARS:
            # An earlier attempt's half answer is on screen. Replacing it with this attempt's
            # first words would rewind what the person was reading: it stays as it is until
            # this answer is whole (or fills a message), then is replaced once, in _close.
            return
        if part is None or part.full:
            await self._open()
            return
        now = time.monotonic()
        if part.mode == "stream":
            # Every 0.5 s while the workspace's budget has room; an even share when not.
            self._sharing = True
            interval = await self._calls.pacer.append_interval(
                self._target.team_id, self._id, self._pacing.append_interval_s
            )
            if not await self._pause(part.sent_at + interval - time.monotonic()):
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
        await self._status.settled()
        shown_at = self._status.shown_at
        first = self.first_text_out
        if shown_at is not None and first is not None and shown_at > first:
            # The status landed after the answer began, so Slack did not clear it for us.
            await self._status.clear()
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
        self._pending = still_to_show(self._parts, self._pending, final)

    def _commit(self, part: Part, head: str) -> None:
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
        part: Part | None = None
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
            part = Part(ts=ts, mode="post")
            self._parts.append(part)
            self._posted()
        self._commit(part, head)
        part.full = bool(rest)

    async def _start_stream(self, head: str) -> Part | None:
        self._first_text()
        streamer = await self._slack.start_stream(head)
        if streamer is None:
            return None
        assert streamer.ts is not None
        part = Part(ts=streamer.ts, mode="stream", streamer=streamer)
        self._parts.append(part)
        self._posted()
        self.streamed = True
        return part

    async def _append(self, part: Part, head: str) -> None:
        assert part.streamer is not None
        if not await self._slack.append(part.streamer, head):
            self._expired(part)
            return
        self._commit(part, head)

    async def _stop(
        self, part: Part, head: str, extra: list[Block] | None, *, reserved: bool = False
    ) -> bool:
        """Stop ``part``'s stream with ``head`` (and ``extra`` blocks under it). False when
        Slack had already closed the stream; ``part`` is then a posted message to update."""
        assert part.streamer is not None
        if not await self._slack.stop(part.streamer, head, extra, reserved=reserved):
            self._expired(part)
            return False
        self._commit(part, head)
        part.full = True  # a stopped stream takes no more text
        return True

    def _expired(self, part: Part) -> None:
        log.info("slack_stream_expired", channel=self._target.channel, ts=part.ts)
        part.mode, part.streamer = "post", None

    async def _post(self, text: str, extra: list[Block] | None, *, commit: bool = True) -> str:
        self._first_text()
        ts = ""
        while self._reuse and not ts:
            old = self._reuse.pop(0)
            try:
                ts = await self._slack.replace(old, text, extra)
            except SlackApiError as exc:
                if slack_error(exc) not in LOST:
                    self._reuse.insert(0, old)  # a passing failure: try this message again
                    raise
                # Deleted meanwhile, or no longer ours to edit: a new message takes its place.
                log.info("slack_resume_message_lost", ts=old, error=describe(exc))
        if not ts:
            ts = await self._slack.post(text, extra)
        if commit:
            part = Part(ts=ts, mode="post", full=True)
            self._parts.append(part)
            self._posted()
            self._commit(part, text)
        return ts

    async def _drop_unused(self) -> None:
        """Messages of an earlier attempt this answer did not need (it came out shorter)."""
        while self._reuse:
            await self._slack.delete(self._reuse.pop(0))

    def _posted(self) -> None:
        self._progress({"ts": self.shown_ts})

    def _progress(self, data: Mapping[str, object]) -> None:
        if self._on_progress is not None:
            self._on_progress(data)

    async def _update(
        self, part: Part, text: str, extra: list[Block] | None, *, reserved: bool
    ) -> None:
        await self._slack.update(part.ts, text, extra, reserved=reserved)
