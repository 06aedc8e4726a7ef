"""A person's own data: counted, exported exactly, or forgotten.

"Own" means: the questions they asked, the answers they got (an answer belongs to the asker of
the latest question before it in its conversation), their feedback, and their profile. In a
shared thread other people's questions and answers are theirs, and stay.

Forgetting also clears what is kept *about* the person: the inbox payloads of the events they
sent (questions, refused questions, commands), their limit refusals, this week's suggested
prompts that quote one of their questions, and what each platform's own tables hold about
them (``PlatformData``, registered by the platform: Teams' conversation references), and what
is remembered about them outside Postgres (``PeopleCache``: the email, Entra id, locale and
groups their platform and Graph said, in Redis and in each process). Two things
stay on purpose: the ``users`` row with platform ids and role only (no name or email), so an
admin stays an admin and a new question starts clean; and ``audit_log``, the record of who did
what (the forget-me itself included), which holds ids and counts, never content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from core.commands.stores import PersonalData

# Messages that belong to %(user)s, among the conversations they took part in.
_OWNED = """
    WITH mine AS (
        SELECT DISTINCT conversation_id FROM messages WHERE user_id = %(user)s
    )
    SELECT m.id FROM messages m JOIN mine USING (conversation_id)
    WHERE CASE WHEN m.role = 'user' THEN m.user_id ELSE (
              SELECT q.user_id FROM messages q
              WHERE q.conversation_id = m.conversation_id AND q.role = 'user' AND q.id < m.id
              ORDER BY q.id DESC LIMIT 1) END = %(user)s"""


async def _owned_ids(conn: AsyncConnection, user_id: int) -> list[int]:
    cur = await conn.execute(_OWNED, {"user": user_id})
    return [row[0] for row in await cur.fetchall()]


# Inbox rows whose payload names the person as a value anywhere (Slack ``event.user``, Teams
# ``activity.from.aadObjectId``): the events they sent, whether or not they left a message, and
# others' events that mention them by id (a Slack mention block). A payload is only read again
# to answer its event after a crash; a finished event's is not read at all. Reads the platform's
# inbox rows (kept for SWITCHBOARD_INBOX_RETENTION_DAYS): fine for a command people run rarely.
_INBOX_NAMING = """
    UPDATE inbox SET payload = '{}'::jsonb, updated_at = now()
    WHERE platform = %(platform)s AND payload <> '{}'::jsonb
      AND jsonb_path_exists(payload, '$.** ? (@ == $id)', jsonb_build_object('id', %(id)s::text))"""


async def _has_table(conn: AsyncConnection, name: str) -> bool:
    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    row = await cur.fetchone()
    return bool(row and row[0])


@dataclass(frozen=True, slots=True)
class PlatformPerson:
    """A person as their platform knows them: ``users.id`` and the platform's ids."""

    user_id: int
    platform: str
    workspace_id: str
    platform_user_id: str


class PlatformData(Protocol):
    """What one platform's own tables hold about a person: forgotten in the forget-me
    transaction, and added to their export under the platform's name (None: nothing)."""

    async def forget(self, conn: AsyncConnection, person: PlatformPerson) -> None: ...

    async def export(
        self, conn: AsyncConnection, person: PlatformPerson
    ) -> Mapping[str, Any] | None: ...


class PeopleCache(Protocol):
    """What is remembered about people outside Postgres (``core.identity.People``: their
    resolved identity and groups, in Redis and in each process): forgotten with them."""

    async def forget_accounts(
        self,
        accounts: Sequence[tuple[str, str, str]],
        *,
        emails: Sequence[str] = (),
        entra_ids: Sequence[str] = (),
    ) -> None: ...


class PgPrivacyStore:
    """``core.commands.stores.PrivacyStore`` in Postgres, with each registered platform's
    ``PlatformData`` and the caches that remember people (``caches``)."""

    def __init__(
        self, pool: AsyncConnectionPool, *, caches: Sequence[PeopleCache] = ()
    ) -> None:
        self._pool = pool
        self._platforms: dict[str, PlatformData] = {}
        self._caches = tuple(caches)

    def register(self, platform: str, data: PlatformData) -> None:
        self._platforms[platform] = data

    async def inventory(self, user_id: int) -> PersonalData:
        async with self._pool.connection() as conn:
            owned = await _owned_ids(conn, user_id)
            cur = await conn.execute(
                """SELECT (SELECT count(DISTINCT conversation_id) FROM messages
                           WHERE user_id = %(user)s),
                          (SELECT count(*) FROM feedback WHERE user_id = %(user)s)""",
                {"user": user_id},
            )
            row = await cur.fetchone()
        assert row is not None
        return PersonalData(conversations=int(row[0]), messages=len(owned), feedback=int(row[1]))

    async def forget(self, user_id: int) -> PersonalData:
        params: dict[str, Any] = {"user": user_id}
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """SELECT DISTINCT conversation_id FROM messages WHERE user_id = %(user)s
                   UNION SELECT id FROM conversations WHERE user_id = %(user)s""",
                params,
            )
            touched = [row[0] for row in await cur.fetchall()]
            owned = await _owned_ids(conn, user_id)
            params.update(owned=owned, touched=touched)
            cur = await conn.execute(
                "SELECT platform, workspace_id, platform_user_id FROM users WHERE id = %(user)s",
                params,
            )
            identity = await cur.fetchone()
            if identity is not None:
                platform, workspace, platform_id = identity
                params.update(platform=platform, workspace=workspace, id=platform_id)
            # The inbox keeps each event's key for dedupe; its payload may quote the question.
            await conn.execute(
                """UPDATE inbox SET payload = '{}'::jsonb, updated_at = now()
                   WHERE event_key IN (SELECT event_key FROM messages
                                       WHERE id = ANY(%(owned)s) AND event_key IS NOT NULL)""",
                params,
            )
            if identity is not None:
                await self._forget_identity(conn, params)
                person = PlatformPerson(user_id, *identity)
                for data in self._platforms.values():
                    await data.forget(conn, person)
            cur = await conn.execute("DELETE FROM feedback WHERE user_id = %(user)s", params)
            feedback = cur.rowcount
            cur = await conn.execute("DELETE FROM messages WHERE id = ANY(%(owned)s)", params)
            messages = cur.rowcount
            if await _has_table(conn, "conversation_summaries"):
                # A summary of a shared thread still quotes what they said; the job redoes it.
                await conn.execute(
                    "DELETE FROM conversation_summaries WHERE conversation_id = ANY(%(touched)s)",
                    params,
                )
            cur = await conn.execute(
                """DELETE FROM conversations c WHERE c.id = ANY(%(touched)s)
                     AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)""",
                params,
            )
            conversations = cur.rowcount
            # Shared threads they started now belong to the next asker, titled by that
            # person's first question instead of theirs.
            await conn.execute(
                """UPDATE conversations c SET
                       user_id = (SELECT q.user_id FROM messages q
                                  WHERE q.conversation_id = c.id AND q.role = 'user'
                                  ORDER BY q.id LIMIT 1),
                       title = coalesce(left(split_part(
                                   (SELECT q.text FROM messages q
                                    WHERE q.conversation_id = c.id AND q.role = 'user'
                                    ORDER BY q.id LIMIT 1), E'\\n', 1), 80), '')
                   WHERE c.id = ANY(%(touched)s) AND c.user_id = %(user)s""",
                params,
            )
            # Every platform account of theirs (merged by email), before the email goes.
            cur = await conn.execute(
                """SELECT platform, workspace_id, platform_user_id, email, entra_id FROM users
                   WHERE id = %(user)s OR same_as = %(user)s""",
                params,
            )
            accounts = await cur.fetchall()
            await conn.execute(
                """UPDATE users SET display_name = NULL, email = NULL, entra_id = NULL,
                       updated_at = now()
                   WHERE id = %(user)s OR same_as = %(user)s""",  # and their other platforms' accounts
                params,
            )
            # Verified answers they wrote are the company's word and stay, no longer signed
            # with their name.
            await conn.execute(
                """UPDATE verified_answers SET author_id = NULL, author_name = 'an admin'
                   WHERE author_id = %(user)s""",
                params,
            )
            await conn.execute("DELETE FROM handoffs WHERE user_id = %(user)s", params)
        # After the commit: a question arriving meanwhile finds them in neither place.
        for cache in self._caches:
            await cache.forget_accounts(
                [(str(a[0]), str(a[1]), str(a[2])) for a in accounts],
                emails=sorted({str(a[3]) for a in accounts if a[3]}),
                entra_ids=sorted({str(a[4]) for a in accounts if a[4]}),
            )
        return PersonalData(conversations=conversations, messages=messages, feedback=feedback)

    @staticmethod
    async def _forget_identity(conn: AsyncConnection, params: dict[str, Any]) -> None:
        """What is kept under the person's platform id rather than their ``users.id``."""
        await conn.execute(_INBOX_NAMING, params)
        await conn.execute(
            """DELETE FROM limit_hits
               WHERE platform = %(platform)s AND workspace_id = %(workspace)s
                 AND platform_user_id = %(id)s""",
            params,
        )
        # A weekly prompt is the most typical real question of a group: it may be theirs.
        await conn.execute(
            """DELETE FROM suggested_prompts
               WHERE lower(btrim(text)) IN (SELECT lower(btrim(m.text)) FROM messages m
                                            WHERE m.id = ANY(%(owned)s) AND m.role = 'user')""",
            params,
        )

    async def export(self, user_id: int) -> dict[str, Any]:
        async with self._pool.connection() as conn:
            owned = await _owned_ids(conn, user_id)
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                """SELECT platform, workspace_id, platform_user_id AS user_id, display_name,
                          email, role, created_at
                   FROM users WHERE id = %s""",
                (user_id,),
            )
            profile = await cur.fetchone()
            await cur.execute(
                """SELECT m.conversation_id, m.id, m.role, m.text, m.citations, m.created_at
                   FROM messages m WHERE m.id = ANY(%s) ORDER BY m.conversation_id, m.id""",
                (owned,),
            )
            messages = await cur.fetchall()
            await cur.execute(
                """SELECT id, platform, workspace_id, channel_id, thread_id, kind,
                          CASE WHEN user_id = %s THEN title END AS title, created_at
                   FROM conversations WHERE id = ANY(%s) ORDER BY id""",
                (user_id, list({m["conversation_id"] for m in messages})),
            )
            conversations = await cur.fetchall()
            await cur.execute(
                """SELECT message_id, rating, reasons, comment, created_at, updated_at
                   FROM feedback WHERE user_id = %s ORDER BY id""",
                (user_id,),
            )
            feedback = await cur.fetchall()
            platforms: dict[str, Any] = {}
            if profile is not None:
                person = PlatformPerson(
                    user_id, profile["platform"], profile["workspace_id"], profile["user_id"]
                )
                for name, data in self._platforms.items():
                    extra = await data.export(conn, person)
                    if extra:
                        platforms[name] = dict(extra)
        by_conversation: dict[int, list[dict[str, Any]]] = {}
        for m in messages:
            entry = {
                "id": m["id"],
                "role": m["role"],
                "text": m["text"],
                "created_at": m["created_at"].isoformat(),
            }
            if m["role"] == "assistant" and m["citations"]:
                entry["citations"] = m["citations"]
            by_conversation.setdefault(m["conversation_id"], []).append(entry)
        export: dict[str, Any] = {
            "user": _iso(profile) if profile else None,
            "conversations": [
                {**_iso(c), "messages": by_conversation.get(c["id"], [])} for c in conversations
            ],
            "feedback": [_iso(f) for f in feedback],
        }
        if platforms:
            export["platforms"] = platforms
        return export


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
