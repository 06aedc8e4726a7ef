"""The help desk's door: one press of "Talk to a person" becomes one ticket.

The adapter says who pressed, on which answer, and where its platform's help channel is
(None when it has none); the desk claims the (answer, person) pair — a second press gets
"already sent" — posts to the help channel, queues the webhook in the background (it retries
on its own and never holds up the reply), audits and counts, and says what to tell the person.
``handoffs.destination`` holds where it arrived: the channel once posted, the webhook once
delivered. A webhook that gives up is told to the person later (``tell``); when nothing
arrived anywhere, the claim is released so the person can press again.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import structlog

from core.commands.stores import AuditEntry, AuditLog
from core.errors import SwitchboardError
from core.events import Person
from core.handoff.ticket import HandoffSubject, HandoffTicket
from core.handoff.webhook import WebhookSender
from core.metrics import Metrics

log = structlog.get_logger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any]], object]
# Says something to the person who pressed, in their thread, after the press was answered.
Tell = Callable[[str], Awaitable[None]]
Status = Literal["sent", "already", "unknown", "failed"]


class HandoffStore(Protocol):
    """``store.handoff.PgHandoffs``."""

    async def subject(self, message_id: int) -> HandoffSubject | None:
        """The answer and the question it answered; None when there is no such answer."""
        ...

    async def claim(self, message_id: int, user_id: int, destination: str) -> bool:
        """Record the hand-off; False when this person already handed off this answer."""
        ...

    async def email(self, user_id: int) -> str | None:
        """The person's confirmed email, when known (a ticket's requester)."""
        ...

    async def arrived(self, message_id: int, user_id: int, destination: str) -> None:
        """Add ``destination`` ("channel", "webhook") to where the hand-off arrived."""
        ...

    async def release(self, message_id: int, user_id: int) -> None:
        """Forget a claim whose delivery failed, so the person can press again."""
        ...


class HelpChannel(Protocol):
    """A platform's help channel (the adapter's): ``where`` names it for the person."""

    where: str

    async def post(self, ticket: HandoffTicket) -> None:
        """Post the ticket; raises ``SwitchboardError`` (``PlatformError``) when it cannot."""
        ...


@dataclass(frozen=True, slots=True)
class HandoffOutcome:
    """How a press ended and what to tell the person, in the thread."""

    status: Status
    message: str


NEXT = "Someone from the team will get back to you — usually within a working day."


class HandoffDesk:
    """Hands answers over to people. ``webhook`` is None when no ticketing system is set."""

    def __init__(
        self,
        store: HandoffStore,
        *,
        audit: AuditLog,
        metrics: Metrics | None,
        webhook: WebhookSender | None,
        spawn: Spawn,
    ) -> None:
        self._store = store
        self._audit = audit
        self._metrics = metrics
        self._webhook = webhook
        self._spawn = spawn

    async def aclose(self) -> None:
        if self._webhook is not None:
            await self._webhook.aclose()

    def offered(self, *, has_channel: bool) -> bool:
        """Whether answers on a platform (with a help channel or not) show "Talk to a
        person" at all: not when nothing could take the hand-off."""
        return has_channel or self._webhook is not None

    async def hand_off(
        self,
        person: Person,
        user_id: int,
        message_id: int,
        *,
        channel: HelpChannel | None,
        pressed_in: str,
        link: str | None = None,
        tell: Tell | None = None,
    ) -> HandoffOutcome:
        """``person`` (stored as ``user_id``) pressed "Talk to a person" under answer
        ``message_id``, in the chat or channel ``pressed_in``: an answer from elsewhere (a
        forged or copied button) is refused like one that does not exist.

        With ``tell``, the desk tells the person the outcome itself, before the webhook starts,
        so that a webhook giving up at once is never told before the press is answered; and
        tells them later if it gives up. Without it, the caller shows the outcome."""
        queue: list[Coroutine[Any, Any, None]] = []
        try:
            outcome = await self._hand_off(
                person, user_id, message_id, channel, pressed_in, link, tell, queue
            )
            if tell is not None:
                await tell(outcome.message)
            return outcome
        finally:
            for work in queue:
                self._spawn(work)

    async def _hand_off(
        self,
        person: Person,
        user_id: int,
        message_id: int,
        channel: HelpChannel | None,
        pressed_in: str,
        link: str | None,
        tell: Tell | None,
        queue: list[Coroutine[Any, Any, None]],
    ) -> HandoffOutcome:
        platform = person.platform
        if not self.offered(has_channel=channel is not None):
            return await self._end(person, user_id, message_id, "failed", [], NOT_SET_UP)
        subject = await self._store.subject(message_id)
        if subject is None or subject.channel_id != pressed_in:
            return await self._end(person, user_id, message_id, "unknown", [], UNKNOWN)
        # Claimed with nowhere yet: a destination is added once the ticket arrives there.
        if not await self._store.claim(message_id, user_id, ""):
            return await self._end(person, user_id, message_id, "already", [], ALREADY)
        if person.email is None:
            # A ticketing system answers by email: the one identity confirmed for them.
            person = replace(person, email=await self._store.email(user_id))
        ticket = HandoffTicket(
            id=f"handoff-{message_id}-{user_id}-{uuid.uuid4().hex[:8]}",
            subject=subject,
            person=person,
            at=datetime.now(UTC),
            link=link,
        )
        arrived: list[str] = []
        if channel is not None:
            try:
                await channel.post(ticket)
                arrived.append("channel")
                await self._store.arrived(message_id, user_id, "channel")
            except SwitchboardError as exc:
                log.warning("handoff_channel_failed", platform=platform, error=str(exc))
        queued = self._webhook is not None
        if self._webhook is not None:
            queue.append(self._send(self._webhook, ticket, user_id, bool(arrived), tell))
        if not arrived and not queued:
            await self._store.release(message_id, user_id)
            return await self._end(person, user_id, message_id, "failed", [], FAILED)
        told = _told(channel.where if arrived and channel is not None else None, queued)
        places = [*arrived, *(["webhook (queued)"] if queued else [])]
        return await self._end(person, user_id, message_id, "sent", places, told)

    async def _send(
        self,
        webhook: WebhookSender,
        ticket: HandoffTicket,
        user_id: int,
        posted: bool,
        tell: Tell | None,
    ) -> None:
        delivered = await webhook.send(ticket)
        person, message_id = ticket.person, ticket.subject.message_id
        if self._metrics is not None:
            self._metrics.handoffs.labels(
                platform=person.platform,
                outcome="webhook" if delivered else "webhook_failed",
            ).inc()
        if delivered:
            await self._store.arrived(message_id, user_id, "webhook")
            return
        if posted:
            note = WEBHOOK_FAILED
        else:
            # It arrived nowhere: the person may press again, and is told so.
            await self._store.release(message_id, user_id)
            await self._end(person, user_id, message_id, "failed", [], FAILED)
            note = FAILED
        if tell is not None:
            try:
                await tell(note)
            except (SwitchboardError, OSError) as exc:  # the ticket's fate is logged anyway
                log.warning("handoff_note_not_sent", error=str(exc))

    async def _end(
        self,
        person: Person,
        user_id: int,
        message_id: int,
        status: Status,
        places: list[str],
        message: str,
    ) -> HandoffOutcome:
        if self._metrics is not None:
            self._metrics.handoffs.labels(platform=person.platform, outcome=status).inc()
        await self._audit.record(
            AuditEntry(
                actor=person.display_name or person.email or person.user_id,
                actor_id=user_id,
                action="handoff",
                target=f"message:{message_id}",
                outcome=status,
                details={"platform": person.platform, "destinations": places},
            )
        )
        log.info("handoff", message_id=message_id, status=status, destinations=places)
        return HandoffOutcome(status, message)


NOT_SET_UP = "Handing questions to a person is not set up here. Please contact the help desk."
UNKNOWN = "I can't find that answer any more, so I can't pass it on. Please ask again."
ALREADY = f"You already sent this one to a person. {NEXT}"
FAILED = (
    "Sorry — I couldn't reach the help desk just now, so your question was not passed on. "
    "Please press “Talk to a person” again in a few minutes."
)
WEBHOOK_FAILED = (
    "Your question reached the help channel, but the help desk's ticket system could not be "
    "reached, so no ticket was opened. The team in the channel will still get back to you."
)
TICKETS = "the help desk's ticket system"


def _told(channel: str | None, queued: bool) -> str:
    """What the person is told at once: where it arrived, and where it is on its way."""
    if channel is not None and queued:
        return (
            f"I've passed your question and my answer to {channel}, and they are on their way "
            f"to {TICKETS}. {NEXT}"
        )
    if channel is not None:
        return f"I've passed your question and my answer to {channel}. {NEXT}"
    return (
        f"I'm passing your question and my answer to {TICKETS}; if it can't get through, "
        f"I'll tell you here. {NEXT}"
    )
