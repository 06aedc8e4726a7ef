"""Small helpers shared by the model-layer tests."""

from __future__ import annotations

import uuid
from typing import Any

from bots.runtime import Runtime
from core.answers import Answer
from core.console import CollectingReplyStream
from core.events import ChatEvent, ConversationKind, Person, ThreadRef


def event(text: str, *, user: str = "U1", thread: str | None = None) -> ChatEvent:
    return ChatEvent(
        person=Person(platform="test", workspace_id="W1", user_id=user),
        thread=ThreadRef(
            platform="test", workspace_id="W1", channel_id="D1",
            thread_id=thread or uuid.uuid4().hex, kind=ConversationKind.DM,
        ),
        text=text,
    )


async def ask(
    runtime: Runtime, text: str, *, user: str = "U1", thread: str | None = None
) -> tuple[Answer, CollectingReplyStream]:
    stream = CollectingReplyStream()
    answer = await runtime.assistant.handle(event(text, user=user, thread=thread), stream)
    return answer, stream


async def stored_answer(runtime: Runtime, message_id: int | None) -> dict[str, Any]:
    """The assistant message row as stored."""
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT text, status, route, model, input_tokens, output_tokens, cost_usd,
                      ttft_ms, total_ms, user_id, citations
               FROM messages WHERE id = %s""",
            (message_id,),
        )
        row = await cur.fetchone()
        assert row is not None
        names = [d.name for d in cur.description]
    return dict(zip(names, row, strict=True))


async def count_rows(runtime: Runtime, table: str) -> int:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) FROM {table}")  # fixed table names only
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])
