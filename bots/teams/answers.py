"""Teams' part in a question's life (``core.lifecycle``): where one answer goes in a chat."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from botbuilder.core import TurnContext

from bots.teams.activities import PERSONAL, conversation_type
from bots.teams.cards import handoff_activity
from bots.teams.delivery import Outbox
from bots.teams.edits import TeamsEditingReply
from bots.teams.references import TeamsConversations
from bots.teams.stream import TeamsStreamingReply
from core.answers import Answer
from core.errors import PlatformError
from core.lifecycle import Record, Reply
from core.worker import ClaimedEvent

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class StreamPace:
    """How the replies pace Teams calls (from the settings)."""

    stream_interval_s: float
    edit_interval_s: float
    stream_max_s: float
    max_chars: int


@dataclass(slots=True)
class TeamsPlace:
    """One Teams question's chat: its reply (streamed in a personal chat, edited elsewhere and
    on every later attempt), and which Teams messages show the stored answer."""

    turn: TurnContext
    conversations: TeamsConversations
    pace: StreamPace
    again: bool
    # Answers get "Talk to a person" (a help channel or the webhook is configured).
    handoff: bool = False
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.turn)

    @property
    def conversation(self) -> str:
        return f"teams:{self.turn.activity.conversation.id}"

    async def open(self, claim: ClaimedEvent | None, record: Record | None) -> Reply:
        pace = self.pace
        if conversation_type(self.turn.activity) == PERSONAL and not self.again:
            return TeamsStreamingReply(
                self.outbox,
                interval_s=pace.stream_interval_s,
                max_seconds=pace.stream_max_s,
                max_chars=pace.max_chars,
            )
        # Group chats and channels; and every answer given again, which edits the message an
        # earlier attempt posted (a stream cannot be continued from another process).
        resume = claim.progress.get("activity_id") if claim is not None else None
        return TeamsEditingReply(
            self.outbox,
            interval_s=pace.edit_interval_s,
            max_chars=pace.max_chars,
            resume_id=resume if isinstance(resume, str) else None,
            on_posted=(
                (lambda activity_id: record({"activity_id": activity_id}))
                if record is not None
                else None
            ),
        )

    async def answered(self, answer: Answer, reply: Reply) -> None:
        assert isinstance(reply, TeamsStreamingReply | TeamsEditingReply)
        if answer.message_id is not None:
            await self.conversations.record_messages(
                self.turn.activity.conversation.id, reply.activity_ids, answer.message_id
            )
        if self.handoff and answer.takes_feedback and answer.message_id is not None:
            try:
                await self.outbox.send(handoff_activity(answer.message_id))
            except PlatformError as exc:
                log.warning("teams_handoff_offer_not_sent", error=str(exc))
        log.info(
            "teams_answered",
            message_id=answer.message_id,
            connector_calls=self.outbox.calls,
            outcome=getattr(reply, "outcome", "edited"),
        )

    def ended(self, reply: Reply) -> None:
        return  # Teams' delivery metrics are the connector's (bots/teams/connector.py)
