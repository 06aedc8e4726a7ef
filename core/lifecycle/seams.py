"""What the lifecycle needs from the inbox and from a platform, as small protocols."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.answers import Answer
from core.events import ChatEvent
from core.stream import ReplyStream
from core.worker import ClaimedEvent

# Keeps what an attempt has shown (message ids…) on the inbox row, for the next attempt.
Record = Callable[[Mapping[str, object]], None]


class Inbox(Protocol):
    """The durable once-only record of events (``store.inbox.EventInbox``)."""

    max_attempts: int

    async def accept(
        self,
        event_key: str,
        platform: str,
        payload: Mapping[str, Any],
        *,
        message_key: str | None = None,
    ) -> ClaimedEvent | None: ...

    async def done(self, claim: ClaimedEvent) -> None: ...

    async def failed(self, claim: ClaimedEvent, error: str) -> None: ...

    async def retry(
        self, claim: ClaimedEvent, error: str, *, progress: Mapping[str, Any] | None = None
    ) -> bool: ...

    def abandon(self, claim: ClaimedEvent) -> None: ...

    async def progress(self, claim: ClaimedEvent, data: Mapping[str, Any]) -> None: ...


class Reply(ReplyStream, Protocol):
    """A platform's ``ReplyStream`` as the lifecycle reads it after the answer.

    ``closed``: ``finish`` or ``fail`` has been shown. ``delivered``: the platform took what
    was shown (False when it lost the answer: the attempt counts as failed). ``kept()``: what
    the next attempt needs to replace this one's messages, stored with the event; None keeps
    what is stored.
    """

    @property
    def closed(self) -> bool: ...

    @property
    def delivered(self) -> bool: ...

    def kept(self) -> Mapping[str, object] | None: ...


class Place(Protocol):
    """Where one question is answered, as its platform shows it."""

    @property
    def conversation(self) -> str:
        """The conversation's key: its answers are written one at a time."""
        ...

    async def open(self, claim: ClaimedEvent | None, record: Record | None) -> Reply:
        """The reply for this attempt (continuing what ``claim.progress`` says was shown)."""
        ...

    async def answered(self, answer: Answer, reply: Reply) -> None:
        """The platform's own bookkeeping once the core has answered (message ids…)."""
        ...

    def ended(self, reply: Reply) -> None:
        """Whatever the outcome: the platform's delivery metrics."""
        ...


@dataclass(frozen=True, slots=True)
class Question:
    """An event to answer and where its answer goes."""

    event: ChatEvent
    place: Place


AnswerAgain = Callable[[Question], Awaitable[None]]


class PlatformDoor(Protocol):
    """A platform's part in the lifecycle: where its background work runs, and how an event
    the inbox kept is rebuilt for another attempt.

    ``again`` rebuilds the claimed event (in whatever context the platform needs to reply)
    and awaits ``answer(question)``; it returns False when the event cannot be rebuilt (its
    workspace is gone). An event that is not a question (a command) it runs itself, through
    ``QuestionLifecycle.once``. ``tell`` shows ``text`` in the messages the earlier attempts
    left, or in a new one.
    """

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> Any: ...

    async def again(self, claim: ClaimedEvent, answer: AnswerAgain) -> bool: ...

    async def tell(self, claim: ClaimedEvent, text: str) -> None: ...
