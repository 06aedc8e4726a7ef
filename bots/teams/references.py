"""Teams conversations the bot is in, and which Teams message shows which stored answer
(stored by ``store.teams``).

A conversation reference (service URL, conversation, bot and user accounts) is what botbuilder
needs to post without an incoming message; one is kept per conversation and refreshed when
something changes. Feedback on a Teams message names the message's activity id;
``message_for`` turns it back into our ``messages.id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationReference

from bots.teams.activities import PERSONAL, conversation_type, tenant_id, user_key
from store.teams import ConversationRow, PgTeamsStore


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """A conversation the bot may post to, with the reference to do it."""

    conversation_id: str
    conversation_type: str
    tenant_id: str
    user_key: str | None
    reference: ConversationReference


class TeamsConversations:
    """The bot's Teams conversations and answer messages, over ``store.teams``: a translation
    between botbuilder's activities and references and the stored rows."""

    def __init__(self, store: PgTeamsStore) -> None:
        self._store = store

    async def remember(self, activity: Activity, *, installed: bool = True) -> None:
        """Keep the reference for ``activity``'s conversation (no write when nothing changed)."""
        if activity.conversation is None or not activity.service_url:
            return
        reference = TurnContext.get_conversation_reference(activity)
        reference.activity_id = None  # a proactive post starts a new message, not a reply
        kind = conversation_type(activity)
        await self._store.remember(
            activity.conversation.id,
            tenant_id=tenant_id(activity),
            conversation_type=kind,
            service_url=activity.service_url,
            reference=reference.serialize(),
            user_key=user_key(activity) if kind == PERSONAL else None,
            installed=installed,
        )

    async def get(self, conversation_id: str) -> StoredConversation | None:
        row = await self._store.get(conversation_id)
        return _stored(row) if row else None

    async def personal_chats(
        self, *, after: str = "", limit: int = 500
    ) -> list[StoredConversation]:
        """Personal chats where the bot is installed, by conversation id, a page at a time."""
        return [_stored(row) for row in await self._store.personal_chats(after=after, limit=limit)]

    async def record_messages(
        self, conversation_id: str, activity_ids: Sequence[str], message_id: int
    ) -> None:
        """Remember that the Teams messages ``activity_ids`` show answer ``message_id``."""
        await self._store.record_messages(conversation_id, activity_ids, message_id)

    async def message_for(self, conversation_id: str, activity_id: str) -> int | None:
        return await self._store.message_for(conversation_id, activity_id)


def _stored(row: ConversationRow) -> StoredConversation:
    return StoredConversation(
        conversation_id=row.conversation_id,
        conversation_type=row.conversation_type,
        tenant_id=row.tenant_id,
        user_key=row.user_key,
        reference=ConversationReference().deserialize(row.reference),
    )
