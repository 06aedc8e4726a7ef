"""Seed people, conversations, messages and feedback at chosen times, and ask commands as them.

History and admin tests need conversations spread over months, which the live pipeline cannot
make (it stamps "now"); these rows are shaped exactly as ``PgConversationStore`` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from bots.runtime import Runtime
from core.commands import CommandHandler, CommandOptions, CommandReply, CommandRequest
from core.commands.context import CommandServices
from core.commands.ingest import web_page_ingest
from core.events import ConversationKind, Person, ThreadRef
from store.admin import PgAdminStore, PgAuditLog
from store.daily_report import PgDailyReport
from store.history import PgHistoryStore
from store.privacy import PgPrivacyStore
from store.prompts import PromptStore
from store.unanswered import PgUnanswered


@dataclass(frozen=True, slots=True)
class Someone:
    """A test person: their platform identity and their users.id."""

    person: Person
    id: int

    def dm(self, thread: str = "") -> ThreadRef:
        return ThreadRef(
            "test",
            self.person.workspace_id,
            f"D-{self.person.user_id}",
            thread,
            ConversationKind.DM,
        )


async def someone(
    runtime: Runtime,
    user_id: str,
    *,
    email: str | None = None,
    name: str | None = None,
    platform: str = "test",
    workspace: str = "W1",
) -> Someone:
    """A person of ``platform``/``workspace`` (adapter tests pass the real platform's)."""
    person = Person(platform, workspace, user_id, display_name=name or user_id, email=email)
    record = await runtime.conversations.upsert_user(person)
    return Someone(person, record.id)


@dataclass(frozen=True, slots=True)
class Turn:
    """A question by ``asker`` at ``at`` and, unless ``answer`` is None, its answer a bit later."""

    asker: Someone
    question: str
    at: datetime
    answer: str | None = "Here is what I found."
    domain: str | None = "it"
    ttft_ms: float | None = 400.0
    total_ms: float | None = 1500.0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Seeded:
    conversation_id: int
    question_ids: list[int]
    answer_ids: list[int]


# A seeded answer comes this long after its question; a conversation is as old as its last
# message, so this is what its history heading goes by.
ANSWER_AFTER = timedelta(seconds=2)


def expected_group(at: datetime, now: datetime, tz: tzinfo = UTC) -> str:
    """The history heading a person in ``tz`` should see, at ``now``, for activity at ``at``."""
    age = (now.astimezone(tz).date() - at.astimezone(tz).date()).days
    if age <= 0:
        return "Today"
    if age == 1:
        return "Yesterday"
    if age < 7:
        return "Last 7 days"
    return "Last 30 days" if age < 30 else "Older"


async def seed_conversation(
    pool: AsyncConnectionPool,
    turns: Sequence[Turn],
    *,
    channel: str | None = None,
    thread: str,
    kind: ConversationKind = ConversationKind.DM,
) -> Seeded:
    first = turns[0]
    channel = channel or f"D-{first.asker.person.user_id}"
    # The conversation lives where its first asker is (platform and workspace).
    platform, workspace = first.asker.person.platform, first.asker.person.workspace_id
    async with pool.connection() as conn:
        cur = await conn.execute(
            """INSERT INTO conversations (platform, workspace_id, channel_id, thread_id, kind,
                                          user_id, title, created_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (
                platform,
                workspace,
                channel,
                thread,
                kind.value,
                first.asker.id,
                first.question[:80],
                first.at,
                turns[-1].at,
            ),
        )
        row = await cur.fetchone()
        assert row is not None
        conversation_id = int(row[0])
        questions, answers = [], []
        for n, turn in enumerate(turns):
            cur = await conn.execute(
                """INSERT INTO messages (conversation_id, user_id, role, text, event_key,
                                         created_at)
                   VALUES (%s, %s, 'user', %s, %s, %s) RETURNING id""",
                (conversation_id, turn.asker.id, turn.question, f"ev-{thread}-{n}", turn.at),
            )
            row = await cur.fetchone()
            assert row is not None
            questions.append(int(row[0]))
            await conn.execute(
                """INSERT INTO inbox (event_key, platform, payload, state)
                   VALUES (%s, %s, %s, 'done')""",
                (f"ev-{thread}-{n}", platform, Jsonb({"text": turn.question})),
            )
            if turn.answer is None:
                continue
            route: dict[str, Any] | None = (
                {"domains": [turn.domain], "confidence": 0.9, "router": "lexical"}
                if turn.domain
                else None
            )
            cur = await conn.execute(
                """INSERT INTO messages (conversation_id, role, text, route, model, input_tokens,
                                         output_tokens, cost_usd, ttft_ms, total_ms, created_at)
                   VALUES (%s, 'assistant', %s, %s, 'test-model', %s, %s, %s, %s, %s, %s)
                   RETURNING id""",
                (
                    conversation_id,
                    turn.answer,
                    Jsonb(route) if route else None,
                    turn.input_tokens,
                    turn.output_tokens,
                    turn.cost_usd,
                    turn.ttft_ms,
                    turn.total_ms,
                    turn.at + ANSWER_AFTER,
                ),
            )
            row = await cur.fetchone()
            assert row is not None
            answers.append(int(row[0]))
    return Seeded(conversation_id, questions, answers)


async def rate(
    pool: AsyncConnectionPool,
    message_id: int,
    who: Someone,
    rating: int,
    *,
    at: datetime,
    reasons: Sequence[str] = (),
    comment: str | None = None,
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO feedback (message_id, user_id, rating, reasons, comment, created_at)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (message_id, who.id, rating, list(reasons), comment, at),
        )


def commands_at(runtime: Runtime, now: datetime, **options: Any) -> CommandHandler:
    """A handler over the runtime's stores whose clock stands still at ``now``."""
    pool = runtime.db.pool
    services = CommandServices(
        users=runtime.conversations,
        history=PgHistoryStore(pool),
        admin=PgAdminStore(pool),
        audit=PgAuditLog(pool),
        privacy=PgPrivacyStore(pool),
        ingestor=runtime.ingestor,
        # The tests' web servers listen on loopback, which ingest refuses unless allowed.
        url_ingest=web_page_ingest(
            runtime.ingestor, timeout=5, allowed_hosts=options.pop("allowed_hosts", ("127.0.0.1",))
        ),
        prompts=PromptStore(pool, defaults=runtime.settings.default_prompts),
        embedder=options.pop("embedder", None),
        answer_cache=options.pop("answer_cache", None),
        verified=runtime.verified,
        unanswered=PgUnanswered(pool, embedder=options.pop("embedder_for_groups", None)),
        daily_report=PgDailyReport(pool),
    )
    base = CommandOptions.from_settings(runtime.settings)
    merged = CommandOptions(
        admins=options.pop("admins", base.admins),
        page_size=options.pop("page_size", base.page_size),
        timezone=options.pop("timezone", base.timezone),
        ingest_roots=options.pop("ingest_roots", base.ingest_roots),
    )
    assert not options, options
    return CommandHandler(services, options=merged, clock=lambda: now)


async def ask(
    handler: CommandHandler,
    who: Someone,
    text: str,
    *,
    where: ThreadRef | None = None,
    **kwargs: Any,
) -> CommandReply:
    """``text`` typed as a command by ``who`` (in their DM unless ``where`` says otherwise)."""
    request = CommandRequest.parse(who.person, where or who.dm(), text, **kwargs)
    return await handler.handle(request)


async def rows(pool: AsyncConnectionPool, query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query, params)  # fixed test SQL only
        return list(await cur.fetchall())
