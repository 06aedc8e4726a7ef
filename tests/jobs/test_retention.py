"""retention against real Postgres: what is older than the policy goes, what is newer stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from bots.runtime import Runtime
from jobs.catalog import RETENTION
from jobs.retention import Retention, RetentionPolicy

NOW = datetime.now(UTC)


async def conversation(pool: AsyncConnectionPool, name: str, *message_ages: float) -> int:
    """A conversation with one answered question per age (in days); each answer rated 👍."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """INSERT INTO users (platform, workspace_id, platform_user_id) VALUES ('slack', 'T', %s)
               ON CONFLICT (platform, workspace_id, platform_user_id) DO UPDATE SET email = NULL
               RETURNING id""",
            (f"U-{name}",),
        )
        user = (await cur.fetchone())[0]
        newest = NOW - timedelta(days=min(message_ages))
        cur = await conn.execute(
            """INSERT INTO conversations (platform, workspace_id, channel_id, thread_id, kind,
                                          user_id, title, created_at, updated_at)
               VALUES ('slack', 'T', 'D', %s, 'dm', %s, %s, %s, %s) RETURNING id""",
            (name, user, name, NOW - timedelta(days=max(message_ages)), newest),
        )
        conversation_id = (await cur.fetchone())[0]
        for age in message_ages:
            at = NOW - timedelta(days=age)
            await conn.execute(
                """INSERT INTO messages (conversation_id, user_id, role, text, created_at)
                   VALUES (%s, %s, 'user', %s, %s)""",
                (conversation_id, user, f"{name} question at {age} days", at),
            )
            cur = await conn.execute(
                """INSERT INTO messages (conversation_id, role, text, created_at)
                   VALUES (%s, 'assistant', 'an answer', %s) RETURNING id""",
                (conversation_id, at),
            )
            answer = (await cur.fetchone())[0]
            await conn.execute(
                """INSERT INTO feedback (message_id, user_id, rating, created_at)
                   VALUES (%s, %s, 1, %s)""",
                (answer, user, at),
            )
    return conversation_id


async def count(pool: AsyncConnectionPool, query: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(query)
        return int((await cur.fetchone())[0])


async def test_retention_deletes_what_is_old_and_keeps_what_is_new(runtime: Runtime):
    pool = runtime.db.pool
    old = [await conversation(pool, f"old-{n}", 400, 380) for n in range(7)]
    recent = await conversation(pool, "recent", 10)
    # A conversation that went on: its old turn goes, its recent turn and itself stay.
    mixed = await conversation(pool, "mixed", 500, 2)
    async with pool.connection() as conn:
        for age, state in ((30, "done"), (30, "failed"), (30, "pending"), (1, "done")):
            await conn.execute(
                """INSERT INTO inbox (event_key, platform, state, updated_at)
                   VALUES (%s, 'slack', %s, %s)""",
                (f"ev-{age}-{state}", state, NOW - timedelta(days=age)),
            )
        await conn.execute(
            """INSERT INTO job_runs (job, started_at, finished_at, outcome)
               VALUES ('reingest', %s, %s, 'succeeded'), ('reingest', %s, %s, 'succeeded')""",
            (NOW - timedelta(days=200), NOW - timedelta(days=200),
             NOW - timedelta(days=1), NOW - timedelta(days=1)),
        )
        await conn.execute(
            """INSERT INTO conversation_summaries (conversation_id, summary, method, last_message_id,
                                                   updated_at)
               VALUES (%s, 'old talk', 'extractive', 0, %s)""",
            (old[0], NOW - timedelta(days=380)),
        )

    # A small batch size: the sweep must go round several times to finish.
    job = Retention(pool, RetentionPolicy(batch_size=3))
    result = await job()

    assert result.counts["conversations"] == 7
    assert result.counts["messages"] == 7 * 4 + 2
    assert result.counts["inbox"] == 2 and result.counts["job_runs"] == 1
    ids = {row for row in await _ids(pool, "SELECT id FROM conversations")}
    assert ids == {recent, mixed}
    texts = await _ids(pool, "SELECT text FROM messages WHERE role = 'user' ORDER BY id")
    assert texts == ["recent question at 10 days", "mixed question at 2 days"]
    assert await count(pool, "SELECT count(*) FROM feedback") == 2
    assert await count(pool, "SELECT count(*) FROM conversation_summaries") == 0
    assert sorted(await _ids(pool, "SELECT event_key FROM inbox")) == ["ev-1-done", "ev-30-pending"]
    assert await count(pool, "SELECT count(*) FROM job_runs") == 1
    # A second pass finds nothing more.
    again = await job()
    assert sum(again.counts.values()) == 0


async def test_a_policy_of_zero_days_keeps_everything(runtime: Runtime):
    pool = runtime.db.pool
    await conversation(pool, "ancient", 3000)
    result = await Retention(
        pool, RetentionPolicy(conversations_days=0, feedback_days=0, inbox_days=0, job_runs_days=0)
    )()
    assert result.counts == {}
    assert await count(pool, "SELECT count(*) FROM messages") == 2


async def test_retention_runs_as_a_recorded_job(runtime: Runtime):
    await conversation(runtime.db.pool, "old", 900)
    assert runtime.jobs is not None
    report = await runtime.jobs.run_now(RETENTION)
    assert report.run.outcome == "succeeded"
    assert report.run.counts["conversations"] == 1


async def _ids(pool: AsyncConnectionPool, query: str) -> list:
    async with pool.connection() as conn:
        cur = await conn.execute(query)
        return [row[0] for row in await cur.fetchall()]
