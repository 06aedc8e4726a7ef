"""A question's life, the same on every platform: accepted once, answered, then done, tried
again, or failed — with the user told plainly what happened.

A platform's adapter translates its payload into a ``ChatEvent`` with a ``Place`` (where the
answer goes) and calls ``take``. The inbox worker's redeliveries come back through
``redeliver`` / ``give_up`` (``core.worker.Redelivery``) and take the same path as a first
delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, get_contextvars

from core.assistant import Assistant
from core.errors import InvalidQuestion, PlatformError, RateLimited
from core.lifecycle.acks import AckFirst
from core.lifecycle.locks import ConversationLocks
from core.lifecycle.policy import SORRY, STILL_WORKING, worth_retrying
from core.lifecycle.seams import Inbox, PlatformDoor, Question, Record, Reply
from core.lifecycle.slots import AnswerSlots
from core.observability import new_request_id
from core.worker import ClaimedEvent

log = structlog.get_logger(__name__)


class QuestionLifecycle:
    """Owns accept → answer → done / retry / failed for every registered platform.

    One concurrency rule for all of them: answers wait while a burst of requests is being
    acknowledged (``acks``), write one at a time per conversation, and run as many at once
    in this process as its event loop keeps up with, at most ``max_answers`` (``slots``).
    One retry policy (``worth_retrying``) and one set of failure texts
    (``core.lifecycle.policy``).
    """

    def __init__(
        self,
        inbox: Inbox,
        assistant: Assistant,
        *,
        max_answers: int = 320,
        lag_target_s: float = 0.05,
    ) -> None:
        self._inbox = inbox
        self._assistant = assistant
        self.slots = AnswerSlots(max_answers, lag_target_s=lag_target_s)
        self._locks = ConversationLocks()
        self._doors: dict[str, PlatformDoor] = {}
        # Requests being acknowledged: the burst is acknowledged before its answers compete
        # for the loop and the pool.
        self.acks = AckFirst()

    def register(self, platform: str, door: PlatformDoor) -> None:
        self._doors[platform] = door

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(sorted(self._doors))

    # -- a first delivery ----------------------------------------------------------------------

    async def accept(
        self,
        event_key: str,
        platform: str,
        payload: Mapping[str, Any],
        *,
        message_key: str | None = None,
    ) -> ClaimedEvent | None:
        """Record the event once; None for a delivery already recorded — by its event key, or
        by ``message_key`` when the same message came under another one. Raises when the inbox
        cannot record it: the platform must not be acknowledged, so it delivers it again."""
        if "request_id" not in get_contextvars():
            # No HTTP request bound one (Socket Mode): the event key follows it everywhere.
            new_request_id(event_key)
        bind_contextvars(event_key=event_key)
        claim = await self._inbox.accept(event_key, platform, payload, message_key=message_key)
        if claim is None:
            log.info(
                "duplicate_event", platform=platform, event_key=event_key, message_key=message_key
            )
        return claim

    async def take(self, question: Question, payload: Mapping[str, Any]) -> None:
        """Accept ``question`` and answer it after the ack, as a background task of its
        platform. Without an event key (nothing to dedupe on) it is answered unrecorded."""
        platform = question.event.thread.platform
        key = question.event.event_key
        claim: ClaimedEvent | None = None
        if key is not None:
            claim = await self.accept(
                key, platform, payload, message_key=question.event.message_key
            )
            if claim is None:
                return
        self._doors[platform].spawn(self.answer(question, claim), f"{platform}:{key}")

    async def once(self, claim: ClaimedEvent, work: Callable[[], Awaitable[None]]) -> None:
        """Something done once rather than answered (a command, a welcome): done when ``work``
        ends, failed when it raises; never tried again."""
        try:
            await work()
        except Exception as exc:
            log.exception("event_work_failed", platform=claim.platform)
            await self._inbox.failed(claim, f"{type(exc).__name__}: {exc}")
            return
        await self._inbox.done(claim)

    # -- the answer ----------------------------------------------------------------------------

    async def answer(self, question: Question, claim: ClaimedEvent | None) -> None:
        """Answer ``question`` (attempt ``claim.attempt``) and settle its inbox row."""
        await self.acks.settled()
        async with self._locks.hold(question.place.conversation), self.slots:
            try:
                await self._attempt(question, claim)
            except Exception:
                log.exception("answer_broke", platform=question.event.thread.platform)
                if claim is not None:
                    self._inbox.abandon(claim)  # answered again when its lease runs out
                raise

    async def _attempt(self, question: Question, claim: ClaimedEvent | None) -> None:
        place = question.place
        event = question.event
        platform = event.thread.platform
        if claim is not None:
            # Which try at this event: a retry is not the person asking again (core/limits.py).
            event = replace(event, attempt=claim.attempt)
        settled: list[bool] = []  # non-empty once the attempt's inbox row is settled
        reply = await place.open(claim, self._recorder(claim, platform, settled))
        error: str | None = None
        retryable = True
        try:
            answer = await self._assistant.handle(event, reply)
        except (InvalidQuestion, RateLimited):
            pass  # the user has been told why
        except Exception as exc:
            log.exception("answer_failed", platform=platform)
            error = f"{type(exc).__name__}: {exc}"
            retryable = worth_retrying(exc)
        else:
            await place.answered(answer, reply)
        if error is None and not reply.delivered:
            error = f"not delivered to {platform}"
        again = (
            error is not None
            and retryable
            and claim is not None
            and claim.attempt < self._inbox.max_attempts
        )
        if error is not None and not reply.closed:
            # Told plainly: either another attempt follows (and replaces this message), or not.
            try:
                await reply.fail(STILL_WORKING if again else SORRY)
            except PlatformError as told:
                log.warning("failure_not_shown", platform=platform, error=str(told))
        place.ended(reply)
        if claim is None:
            return
        settled.append(True)  # a progress write still queued is of no use to anyone now
        if error is None:
            await self._inbox.done(claim)
        elif again:
            # Written now: a progress write still on its way would lose to the retry.
            await self._inbox.retry(claim, error, progress=reply.kept())
        else:
            await self._inbox.failed(claim, error)

    def _recorder(
        self, claim: ClaimedEvent | None, platform: str, settled: list[bool]
    ) -> Record | None:
        """What a reply calls when it posts a message: kept on the inbox row, off the answer's
        path, in order, for an attempt that has to take over. A write that has not started
        when the attempt settles (done, failed, or retried with its progress) is dropped."""
        if claim is None:
            return None
        inbox = self._inbox
        door = self._doors[platform]
        last: list[Any] = []

        async def write(data: dict[str, object], before: Any) -> None:
            if before is not None:
                await asyncio.gather(before, return_exceptions=True)  # in order: newest wins
            if not settled:
                await inbox.progress(claim, data)

        def record(data: Mapping[str, object]) -> None:
            before = last.pop() if last else None
            last.append(door.spawn(write(dict(data), before), f"{platform}:progress"))

        return record

    # -- the inbox worker's way back in (core.worker.Redelivery) -------------------------------

    async def redeliver(self, claim: ClaimedEvent) -> None:
        """Answer an event again whose earlier attempt died or gave it back."""

        async def answer(question: Question) -> None:
            await self.answer(question, claim)

        if not await self._doors[claim.platform].again(claim, answer):
            await self._inbox.failed(claim, "cannot rebuild the event (workspace gone)")

    async def give_up(self, claim: ClaimedEvent) -> None:
        """Tell the user, in the messages the attempts left (or a new one), that it failed."""
        await self._doors[claim.platform].tell(claim, SORRY)


__all__ = ["QuestionLifecycle", "Reply"]
