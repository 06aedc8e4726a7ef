"""summaries against real Postgres: quiet conversations get a summary; busy ones wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from bots.runtime import Runtime
from core.embeddings import OpenAIEmbedder
from jobs.catalog import SUMMARIES
from jobs.summaries import Summaries
from store.summaries import SummaryStore
from tests.jobs.conftest import with_model


async def talk(pool: AsyncConnectionPool, thread: str, turns: list[tuple[str, str]], *, minutes_ago: float) -> int:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    async with pool.connection() as conn:
        cur = await conn.execute(
            """INSERT INTO users (platform, workspace_id, platform_user_id) VALUES ('teams', 'T', 'alice')
               ON CONFLICT (platform, workspace_id, platform_user_id) DO UPDATE SET email = NULL
               RETURNING id"""
        )
        user = (await cur.fetchone())[0]
        cur = await conn.execute(
            """INSERT INTO conversations (platform, workspace_id, channel_id, thread_id, kind,
                                          user_id, title, updated_at)
               VALUES ('teams', 'T', 'C', %s, 'dm', %s, %s, %s)
               ON CONFLICT (platform, workspace_id, channel_id, thread_id)
                   DO UPDATE SET updated_at = EXCLUDED.updated_at
               RETURNING id""",
            (thread, user, turns[0][1][:60], at),
        )
        conversation = (await cur.fetchone())[0]
        for role, text in turns:
            await conn.execute(
                """INSERT INTO messages (conversation_id, user_id, role, text, created_at)
                   VALUES (%s, %s, %s, %s, %s)""",
                (conversation, user if role == "user" else None, role, text, at),
            )
    return conversation


LEAVE = [
    ("user", "How many days of annual leave do I get?"),
    (
        "assistant",
        ("Full-time staff get 25 days of annual leave a year [1]. Part-time staff get a "
         "pro-rata share [2]."),
    ),
]


async def test_quiet_conversations_get_a_summary_and_busy_ones_wait(runtime: Runtime):
    pool = runtime.db.pool
    quiet = await talk(pool, "t-quiet", LEAVE, minutes_ago=120)
    busy = await talk(pool, "t-busy", [("user", "Is the VPN down?")], minutes_ago=2)
    assert runtime.jobs is not None

    report = await runtime.jobs.run_now(SUMMARIES)

    assert report.run.outcome == "succeeded" and report.run.counts["summarized"] == 1
    store = SummaryStore(pool)
    summary = await store.get(quiet)
    assert summary is not None
    assert "How many days of annual leave do I get?" in summary
    assert "25 days of annual leave a year" in summary and "[1]" not in summary
    assert await store.get(busy) is None

    # Nothing new: nothing to do. A new turn once quiet again: summarized again.
    assert (await runtime.jobs.run_now(SUMMARIES)).run.counts["summarized"] == 0
    await talk(pool, "t-quiet", [("user", "And can I carry days over to next year?")], minutes_ago=60)
    assert (await runtime.jobs.run_now(SUMMARIES)).run.counts["summarized"] == 1
    assert "carry days over" in (await store.get(quiet) or "")


async def test_the_model_writes_summaries_and_they_are_found_by_meaning(settings, fake_openai):
    server, url = fake_openai
    server.replies.append("Alice asked how much annual leave she gets: 25 days a year, pro rata.")
    configured = with_model(settings, url)
    async with await Runtime.start(configured) as rt:
        conversation = await talk(rt.db.pool, "t-1", LEAVE, minutes_ago=90)
        assert rt.jobs is not None
        report = await rt.jobs.run_now(SUMMARIES)
        store = SummaryStore(rt.db.pool)
        summary = await store.get(conversation)
        embedder = OpenAIEmbedder.from_settings(configured)
        try:
            query = await embedder.embed_query("annual leave days")
        finally:
            await embedder.aclose()
        async with rt.db.pool.connection() as conn:
            cur = await conn.execute("SELECT user_id FROM conversations WHERE id = %s", (conversation,))
            user = (await cur.fetchone())[0]
        found = await store.nearest(user, query, model="fake-embed")
        other_model = await store.nearest(user, query, model="another-model")

    assert report.run.counts == {"summarized": 1, "by_model": 1, "embedded": 1}
    assert summary == "Alice asked how much annual leave she gets: 25 days a year, pro rata."
    chat = next(body for kind, body in server.requests if kind == "chat")
    assert "Employee: How many days of annual leave do I get?" in chat["messages"][1]["content"]
    assert [m.conversation_id for m in found] == [conversation]
    assert other_model == []


async def test_when_the_model_fails_the_summary_is_extractive(runtime: Runtime, fake_openai):
    server, url = fake_openai
    server.behaviour.fail_status = 500
    from core.llm.client import ModelClient

    model = ModelClient.from_settings(with_model(runtime.settings, url, embeddings=False))
    try:
        conversation = await talk(runtime.db.pool, "t-2", LEAVE, minutes_ago=90)
        result = await Summaries(
            SummaryStore(runtime.db.pool), quiet=timedelta(minutes=30), model=model
        )()
    finally:
        await model.aclose()
    assert result.counts["summarized"] == 1 and result.counts["by_model"] == 0
    assert (await SummaryStore(runtime.db.pool).get(conversation) or "").startswith("Asked: How many")
