"""What a hand-off carries: the question, the answer given, who asked and where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.events import Person

# The webhook's JSON says which shape it is; a receiver checks this before reading on.
SCHEMA = "switchboard.handoff/v1"
MAX_TEXT = 4000


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class HandoffSubject:
    """A stored answer a person wants a human to take over: the answer and the question
    it answered (``store.handoff.PgHandoffs.subject``)."""

    message_id: int
    conversation_id: int
    question: str
    answer: str
    status: str
    domain: str | None
    platform: str
    workspace_id: str
    channel_id: str
    thread_id: str


@dataclass(frozen=True, slots=True)
class HandoffTicket:
    """One hand-off as the help desk receives it. ``link`` opens the thread, when the
    platform has links; ``person`` is who pressed "Talk to a person"."""

    id: str
    subject: HandoffSubject
    person: Person
    at: datetime
    link: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The webhook body, documented in docs/handoff.md."""
        s = self.subject
        return {
            "schema": SCHEMA,
            "id": self.id,
            "created_at": self.at.isoformat(),
            "question": _clip(s.question),
            "answer": _clip(s.answer),
            "answer_status": s.status,
            "domain": s.domain,
            "message_id": s.message_id,
            "conversation_id": s.conversation_id,
            "person": {
                "platform": self.person.platform,
                "workspace_id": self.person.workspace_id,
                "user_id": self.person.user_id,
                "name": self.person.display_name,
                "email": self.person.email,
            },
            "thread": {
                "platform": s.platform,
                "workspace_id": s.workspace_id,
                "channel_id": s.channel_id,
                "thread_id": s.thread_id,
                "link": self.link,
            },
        }
