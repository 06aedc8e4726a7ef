"""The conversation store the core needs: people, threads and their messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.answers import Answer
from core.events import Person, ThreadRef


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    role: str


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message in the conversation, oldest first when listed; ``at`` when it was
    written (None where the store does not say)."""

    role: str
    text: str
    at: datetime | None = None
    # An earlier answer citing a document the asker may not read now (``ask`` with principals).
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class Asked:
    """A question recorded in its conversation, with the turns before it."""

    user: UserRecord
    conversation_id: int
    history: list[Turn]
    question_id: int


class ConversationStore(Protocol):
    """Persists who asked what where, and what the assistant answered."""

    async def upsert_user(self, person: Person) -> UserRecord: ...

    async def open_conversation(self, thread: ThreadRef, user_id: int, title: str) -> int:
        """Return the conversation id for ``thread``, creating it on first use."""
        ...

    async def recent_turns(self, conversation_id: int, limit: int) -> list[Turn]: ...

    async def ask(
        self, person: Person, thread: ThreadRef, *, title: str, text: str,
        event_key: str | None, turns: int, principals: Sequence[str] | None = None,
    ) -> Asked:
        """``upsert_user``, ``open_conversation``, ``recent_turns`` (the ``turns`` before the
        question) and ``add_question`` at once. With ``principals`` (the asker's), an earlier
        answer citing a document they may not read now is marked ``hidden``."""
        ...

    async def add_question(
        self, conversation_id: int, user_id: int, text: str, event_key: str | None
    ) -> int: ...

    async def add_answer(
        self,
        conversation_id: int,
        answer: Answer,
        *,
        user_id: int | None = None,
        event_key: str | None = None,
    ) -> int:
        """Store the answer; ``user_id`` is who asked, so usage adds up per person.
        ``event_key`` is the delivery it answers: a retry of that delivery deletes it by key."""
        ...
