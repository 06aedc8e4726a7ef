"""Teams' own tables (migration 0005): the conversations the bot is in, with the reference
botbuilder needs to post to them unasked (``teams_conversations``), and which Teams message
shows which stored answer (``teams_messages``).

References go in and out as the JSON botbuilder serializes; the Teams adapter turns them
into its objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from store.privacy import PlatformPerson

_COLUMNS = "conversation_id, conversation_type, tenant_id, user_key, reference"


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """A conversation the bot may post to, with its serialized reference."""

    conversation_id: str
    conversation_type: str
    tenant_id: str
    user_key: str | None
    reference: dict[str, Any]


class PgTeamsStore:
    """Teams' tables in Postgres."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def remember(
        self,
        conversation_id: str,
        *,
        tenant_id: str,
        conversation_type: str,
        service_url: str,
        reference: Mapping[str, Any],
        user_key: str | None,
        installed: bool,
    ) -> None:
        """Keep the conversation's reference (no write when nothing changed)."""
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
                    conversation_id,
                    tenant_id,
                    conversation_type,
                    service_url,
                    Jsonb(dict(reference)),
                    user_key,
                    installed,
                ),
            )

    async def get(self, conversation_id: str) -> ConversationRow | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(ConversationRow))
            await cur.execute(
                f"SELECT {_COLUMNS} FROM teams_conversations "
                "WHERE conversation_id = %s AND installed",
                (conversation_id,),
            )
            return await cur.fetchone()

    async def personal_chats(self, *, after: str = "", limit: int = 500) -> list[ConversationRow]:
        """Personal chats where the bot is installed, by conversation id, a page at a time."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(ConversationRow))
            await cur.execute(
                f"""SELECT {_COLUMNS} FROM teams_conversations
                   WHERE conversation_type = 'personal' AND installed AND conversation_id > %s
                   ORDER BY conversation_id LIMIT %s""",
                (after, limit),
            )
            return await cur.fetchall()

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


class TeamsPersonalData:
    """``store.privacy.PlatformData`` for Teams: the reference to the person's personal chat
    (proactive messages to them) goes; a shared chat's reference stays for the others, without
    them as its user. An export has nothing to add: references are the bot's, not theirs."""

    async def forget(self, conn: AsyncConnection, person: PlatformPerson) -> None:
        params = {"workspace": person.workspace_id, "id": person.platform_user_id}
        await conn.execute(
            """DELETE FROM teams_conversations
               WHERE tenant_id = %(workspace)s AND conversation_type = 'personal'
                 AND (user_key = %(id)s OR reference -> 'user' ->> 'aadObjectId' = %(id)s)""",
            params,
        )
        await conn.execute(
            """UPDATE teams_conversations SET reference = reference - 'user', updated_at = now()
               WHERE tenant_id = %(workspace)s
                 AND (reference -> 'user' ->> 'aadObjectId' = %(id)s
                      OR reference -> 'user' ->> 'id' = %(id)s)""",
            params,
        )

    async def export(self, conn: AsyncConnection, person: PlatformPerson) -> None:
        return None
