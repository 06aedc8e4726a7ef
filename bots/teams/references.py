"""Teams conversations the bot is in, and which Teams message shows which stored answer.

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
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from bots.teams.activities import PERSONAL, conversation_type, tenant_id, user_key


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """A conversation the bot may post to, with the reference to do it."""

    conversation_id: str
    conversation_type: str
    tenant_id: str
    user_key: str | None
    reference: ConversationReference


class TeamsConversations:
    """Postgres tables ``teams_conversations`` and ``teams_messages`` (migration 0005)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def remember(self, activity: Activity, *, installed: bool = True) -> None:
        """Keep the reference for ``activity``'s conversation (no write when nothing changed)."""
        if activity.conversation is None or not activity.service_url:
            return
        reference = TurnContext.get_conversation_reference(activity)
        reference.activity_id = None  # a proactive post starts a new message, not a reply
        kind = conversation_type(activity)
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO teams_conversations
                       (conversation_id, tenant_id, conversation_type, service_url, reference,
                        user_key, installed)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (conversation_id) DO UPDATE SET
                       service_url = EXCLUDED.service_url,
                       reference = EXCLUDED.reference,
                       user_key = coalesce(EXCLUDED.user_key, teams_conversations.user_key),
                       installed = EXCLUDED.installed,
                       updated_at = now()
                   WHERE teams_conversations.service_url IS DISTINCT FROM EXCLUDED.service_url
                      OR teams_conversations.installed IS DISTINCT FROM EXCLUDED.installed
                      OR teams_conversations.reference IS DISTINCT FROM EXCLUDED.reference""",
                (
                    activity.conversation.id,
                    tenant_id(activity),
                    kind,
                    activity.service_url,
                    Jsonb(reference.serialize()),
                    user_key(activity) if kind == PERSONAL else None,
                    installed,
                ),
            )

    async def get(self, conversation_id: str) -> StoredConversation | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT conversation_id, conversation_type, tenant_id, user_key, reference
                   FROM teams_conversations WHERE conversation_id = %s AND installed""",
                (conversation_id,),
            )
            row = await cur.fetchone()
        return _stored(row) if row else None

    async def personal_chats(
        self, *, after: str = "", limit: int = 500
    ) -> list[StoredConversation]:
        """Personal chats where the bot is installed, by conversation id, a page at a time."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT conversation_id, conversation_type, tenant_id, user_key, reference
                   FROM teams_conversations
                   WHERE conversation_type = 'personal' AND installed AND conversation_id > %s
                   ORDER BY conversation_id LIMIT %s""",
                (after, limit),
            )
            rows = await cur.fetchall()
        return [_stored(row) for row in rows]

    async def record_messages(
        self, conversation_id: str, activity_ids: Sequence[str], message_id: int
    ) -> None:
        """Remember that the Teams messages ``activity_ids`` show answer ``message_id``."""
        ids = [i for i in dict.fromkeys(activity_ids) if i]
        if not ids:
            return
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                """INSERT INTO teams_messages (conversation_id, activity_id, message_id)
                   VALUES (%s, %s, %s) ON CONFLICT DO NOTHING""",
                [(conversation_id, activity_id, message_id) for activity_id in ids],
            )

    async def message_for(self, conversation_id: str, activity_id: str) -> int | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT message_id FROM teams_messages WHERE conversation_id = %s AND activity_id = %s",
                (conversation_id, activity_id),
            )
            row = await cur.fetchone()
        return int(row[0]) if row else None


def _stored(row: tuple) -> StoredConversation:
    conversation_id, kind, tenant, user, reference = row
    return StoredConversation(
        conversation_id=conversation_id,
        conversation_type=kind,
        tenant_id=tenant,
        user_key=user,
        reference=ConversationReference().deserialize(reference),
    )
