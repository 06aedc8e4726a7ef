"""Postgres implementation of the core's ConversationStore."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.answers import Answer
from core.conversations import Asked, Turn, UserRecord
from core.events import Person, ThreadRef
from core.text import storable
from store.batched import Batched
from store.people import one_person

# A question's whole bookkeeping before it is answered, in one statement and one commit: the
# asker's account (upserted), the person it belongs to (store/people.py), the conversation
# (opened on first use), the question's row, and the thread's earlier turns. Every part of a
# statement sees the same snapshot, so the turns read are those before this question.
_ASK = """
WITH account AS (
    INSERT INTO users (platform, workspace_id, platform_user_id, display_name, email, entra_id)
    VALUES (%(platform)s, %(workspace)s, %(user)s, %(name)s, %(email)s, %(entra_id)s)
    ON CONFLICT (platform, workspace_id, platform_user_id) DO UPDATE SET
        display_name = coalesce(EXCLUDED.display_name, users.display_name),
        email = coalesce(EXCLUDED.email, users.email),
        entra_id = coalesce(EXCLUDED.entra_id, users.entra_id),
        updated_at = now()
    RETURNING id, role, same_as
), person AS (
    SELECT u.id, u.role FROM users u, account a
    WHERE %(account)s::text IS NOT NULL AND lower(u.email) = %(account)s
      AND u.same_as IS NULL AND u.id <> a.id
    ORDER BY u.id LIMIT 1
), asker AS (
    SELECT coalesce(p.id, a.id) AS id FROM account a LEFT JOIN person p ON true
), conversation AS (
    INSERT INTO conversations
        (platform, workspace_id, channel_id, thread_id, kind, user_id, title)
    SELECT %(platform)s, %(workspace)s, %(channel)s, %(thread)s, %(kind)s, asker.id, %(title)s
    FROM asker
    ON CONFLICT (platform, workspace_id, channel_id, thread_id)
        DO UPDATE SET updated_at = now()
    RETURNING id
), question AS (
    INSERT INTO messages (conversation_id, user_id, role, text, event_key)
    SELECT c.id, asker.id, 'user', %(text)s, %(event_key)s FROM conversation c, asker
    RETURNING id
)
SELECT a.id, a.role, a.same_as, p.id, p.role, c.id, q.id, h.roles, h.texts, h.ats, h.hidden
FROM account a LEFT JOIN person p ON true, conversation c, question q
CROSS JOIN LATERAL (
    SELECT array_agg(r.role ORDER BY r.id) AS roles, array_agg(r.text ORDER BY r.id) AS texts,
           array_agg(r.created_at ORDER BY r.id) AS ats, array_agg(r.hidden ORDER BY r.id) AS hidden
    FROM (SELECT m.id, m.role, m.text, m.created_at,
                 -- An answer citing a document the asker may not read now (revoked since):
                 -- not quoted back to them (docs/knowledge.md, history after a revocation).
                 m.role = 'assistant' AND %(principals)s::text[] IS NOT NULL AND EXISTS (
                     SELECT 1 FROM jsonb_array_elements(m.sources) s
                     JOIN documents d ON d.id = (s ->> 'document_id')::bigint
                     WHERE d.audience IS NOT NULL AND NOT d.audience && %(principals)s::text[]
                 ) AS hidden
          FROM messages m
          WHERE m.conversation_id = c.id AND m.status IN ('complete', 'verified')
          ORDER BY m.id DESC LIMIT %(turns)s) r
) h
"""


# Answers stored together: each row's id is drawn before the insert, so the ids come back in
# the order the answers were given (RETURNING promises no order).
_ADD_ANSWERS = """
WITH given AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id, g.*
    FROM unnest(%(conversations)s::bigint[], %(users)s::bigint[], %(texts)s::text[],
                %(citations)s::jsonb[], %(sources)s::jsonb[], %(routes)s::jsonb[],
                %(models)s::text[], %(input_tokens)s::integer[], %(output_tokens)s::integer[],
                %(costs)s::numeric[], %(retrieval_ms)s::real[], %(ttft_ms)s::real[],
                %(total_ms)s::real[], %(statuses)s::text[], %(event_keys)s::text[])
         WITH ORDINALITY AS g(conversation_id, user_id, text, citations, sources, route, model,
                             input_tokens, output_tokens, cost_usd, retrieval_ms, ttft_ms,
                             total_ms, status, event_key, n)),
added AS (
    INSERT INTO messages
        (id, conversation_id, user_id, role, text, citations, sources, route, model,
         input_tokens, output_tokens, cost_usd, retrieval_ms, ttft_ms, total_ms, status,
         event_key)
    SELECT id, conversation_id, user_id, 'assistant', text, citations, sources, route, model,
           input_tokens, output_tokens, cost_usd, retrieval_ms, ttft_ms, total_ms, status,
           event_key
    FROM given)
SELECT id FROM given ORDER BY n
"""


class _NewAnswer(NamedTuple):
    conversation_id: int
    answer: Answer
    user_id: int | None
    event_key: str | None


def _sources(answer: Answer) -> list[dict[str, object]]:
    return [
        {"chunk_id": p.chunk_id, "document_id": p.document_id, "score": round(p.score, 6)}
        for p in answer.sources
    ]


class PgConversationStore:
    """People, conversations and messages in Postgres."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._answers: Batched[_NewAnswer, int] = Batched(self._add_answers)

    async def upsert_user(self, person: Person) -> UserRecord:
        """The person's user record; with ``Person.account``, the one record of everyone with
        that confirmed email on any platform (store/people.py)."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(UserRecord))
            await cur.execute(
                """INSERT INTO users (platform, workspace_id, platform_user_id, display_name, email,
                                      entra_id)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (platform, workspace_id, platform_user_id) DO UPDATE SET
                       display_name = coalesce(EXCLUDED.display_name, users.display_name),
                       email = coalesce(EXCLUDED.email, users.email),
                       entra_id = coalesce(EXCLUDED.entra_id, users.entra_id),
                       updated_at = now()
                   RETURNING id, role""",
                (person.platform, person.workspace_id, person.user_id, person.display_name,
                 person.email, person.entra_id),
            )
            row = await cur.fetchone()
            assert row is not None
            return await one_person(conn, row, person.account)

    async def ask(
        self, person: Person, thread: ThreadRef, *, title: str, text: str,
        event_key: str | None, turns: int, principals: Sequence[str] | None = None,
    ) -> Asked:
        """Record the question (``upsert_user``, ``open_conversation``, ``add_question``) and
        read the ``turns`` before it (``recent_turns``) in one round trip; with ``principals``,
        each earlier answer citing a document they may not read now is marked ``hidden``."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                _ASK,
                {
                    "platform": person.platform, "workspace": person.workspace_id,
                    "user": person.user_id, "name": person.display_name, "email": person.email,
                    "entra_id": person.entra_id, "account": person.account or None,
                    "channel": thread.channel_id, "thread": thread.thread_id,
                    "kind": thread.kind.value, "title": title, "text": text,
                    "event_key": event_key, "turns": max(turns, 0),
                    "principals": None if principals is None else list(principals),
                },
            )
            row = await cur.fetchone()
            assert row is not None
            (own_id, own_role, same_as, person_id, person_role, conversation, question,
             roles, texts, ats, hidden) = row
            user = UserRecord(id=int(own_id), role=str(own_role))
            if person_id is not None:
                if same_as != person_id:
                    # Newly the same person: the rare join moves what the account did before.
                    user = await one_person(conn, user, person.account)
                else:
                    admin = "admin" if "admin" in (own_role, person_role) else str(person_role)
                    user = UserRecord(id=int(person_id), role=admin)
        return Asked(
            user=user,
            conversation_id=int(conversation),
            history=[
                Turn(role=r, text=t, at=at, hidden=bool(h))
                for r, t, at, h in zip(roles or [], texts or [], ats or [], hidden or [], strict=True)
            ],
            question_id=int(question),
        )

    async def open_conversation(self, thread: ThreadRef, user_id: int, title: str) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """INSERT INTO conversations
                       (platform, workspace_id, channel_id, thread_id, kind, user_id, title)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (platform, workspace_id, channel_id, thread_id)
                       DO UPDATE SET updated_at = now()
                   RETURNING id""",
                (
                    thread.platform,
                    thread.workspace_id,
                    thread.channel_id,
                    thread.thread_id,
                    thread.kind.value,
                    user_id,
                    title,
                ),
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def recent_turns(self, conversation_id: int, limit: int) -> list[Turn]:
        if limit <= 0:
            return []
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Turn))
            await cur.execute(
                """SELECT role, text, created_at AS at FROM (
                       SELECT id, role, text, created_at FROM messages
                       WHERE conversation_id = %s AND status IN ('complete', 'verified')
                       ORDER BY id DESC LIMIT %s) recent
                   ORDER BY id""",
                (conversation_id, limit),
            )
            return await cur.fetchall()

    async def add_question(
        self, conversation_id: int, user_id: int, text: str, event_key: str | None
    ) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """INSERT INTO messages (conversation_id, user_id, role, text, event_key)
                   VALUES (%s, %s, 'user', %s, %s) RETURNING id""",
                (conversation_id, user_id, text, event_key),
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def add_answer(
        self,
        conversation_id: int,
        answer: Answer,
        *,
        user_id: int | None = None,
        event_key: str | None = None,
    ) -> int:
        """Store ``answer``; its message id. Answers finishing together share one statement."""
        return await self._answers(_NewAnswer(conversation_id, answer, user_id, event_key))

    async def _add_answers(self, stored: Sequence[_NewAnswer]) -> list[int]:
        answers = [new.answer for new in stored]
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                _ADD_ANSWERS,
                {
                    "conversations": [new.conversation_id for new in stored],
                    "users": [new.user_id for new in stored],
                    "texts": [storable(a.text) for a in answers],
                    "citations": [Jsonb([c.to_dict() for c in a.citations]) for a in answers],
                    "sources": [Jsonb(_sources(a)) for a in answers],
                    "routes": [Jsonb(a.route.to_dict()) if a.route else None for a in answers],
                    "models": [a.usage.model for a in answers],
                    "input_tokens": [a.usage.input_tokens for a in answers],
                    "output_tokens": [a.usage.output_tokens for a in answers],
                    "costs": [a.usage.cost_usd for a in answers],
                    "retrieval_ms": [a.usage.retrieval_ms for a in answers],
                    "ttft_ms": [a.usage.ttft_ms for a in answers],
                    "total_ms": [a.usage.total_ms for a in answers],
                    "statuses": [a.status for a in answers],
                    "event_keys": [new.event_key for new in stored],
                },
            )
            return [int(message_id) for (message_id,) in await cur.fetchall()]


