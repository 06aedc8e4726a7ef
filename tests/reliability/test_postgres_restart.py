"""Postgres restarts while people are asking: nothing accepted is lost, nothing answered twice.

The test runs a Postgres of its own (pgserver) so stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from core.settings import Settings
from tests.bots.slack.conftest import dm, new_ts
from tests.reliability.conftest import (
    SORRY,
    all_finished,
    eventually,
    inbox_rows,
    long_answer,
    model_server,
    replica,
    stored_turns,
)
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_slack import FakeSlack

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgserver

QUESTIONS = (
    "How do I connect to the VPN from home?",
    "How many days of annual leave do I get?",
    "How do I reset my password?",
    "What is the travel expense policy?",
    "How do I request new hardware?",
    "When is payday?",
)


class RestartablePostgres:
    """A pgserver Postgres that a test may stop and start again (same socket, same data)."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="sbpgr-", dir="/tmp"))
        self.server = pgserver.get_server(self._folder, cleanup_mode="delete")
        self.url = str(self.server.get_uri())

    async def stop(self) -> None:
        # "fast": open sessions are cut, as a crash or a failover would cut them.
        await asyncio.to_thread(
            pgserver.pg_ctl,
            ["-w", "-m", "fast", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
        )

    async def start(self) -> None:
        await asyncio.to_thread(self.server.ensure_postgres_running)

    def cleanup(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self._folder, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[RestartablePostgres]:
    server = RestartablePostgres()
    try:
        yield server
    finally:
        server.cleanup()


async def test_questions_asked_around_a_postgres_restart_are_each_answered_once(
    settings: Settings, postgres: RestartablePostgres, redis_url: str
):
    model = FakeOpenAI(default_reply=long_answer(6))
    model.behaviour.token_interval_s = 0.03  # each answer streams for a couple of seconds
    fake = FakeSlack()
    config = settings.model_copy(update={"database_url": SecretStr(postgres.url)})
    before = [(f"D{i}", new_ts()) for i in range(3)]
    during = [(f"D{i}", new_ts()) for i in range(3, 6)]
    async with (
        model_server(model) as url,
        replica(config, fake, model_url=url, redis_url=SecretStr(redis_url)) as slack,
    ):
        for (channel, ts), question in zip(before, QUESTIONS[:3], strict=True):
            response = await slack.event(dm(question, ts=ts, channel=channel))
            assert response.status == 200
        await eventually(lambda: all(fake.thread(c, t) for c, t in before), what="answers to start")

        await postgres.stop()
        # Slack delivers new events while the database is down. Each is acknowledged only once
        # it is recorded: either the pool is back in time, or the request fails and Slack
        # delivers the event again later.
        events = {}
        first_tries = []
        for (channel, ts), question in zip(during, QUESTIONS[3:], strict=True):
            events[ts] = dm(question, ts=ts, channel=channel)
            first_tries.append(
                asyncio.create_task(slack.event(events[ts], event_id=f"Ev{ts.replace('.', '')}"))
            )
        await asyncio.sleep(1.5)  # the outage lasts a moment
        assert not any(task.done() and task.result().status == 200 for task in first_tries)
        await postgres.start()

        statuses = [(await task).status for task in first_tries]
        for (ts, event), status in zip(events.items(), statuses, strict=True):
            # Slack retries a refused delivery (after a minute, then five; sooner here).
            retry = 0
            while status != 200 and retry < 30:
                retry += 1
                await asyncio.sleep(0.5)
                response = await slack.event(
                    event, event_id=f"Ev{ts.replace('.', '')}", retry_num=retry
                )
                status = response.status
            assert status == 200
        await eventually(lambda: all_finished(slack.runtime, 6), what="every event done")
        await slack.settle()
        rows = await inbox_rows(slack.runtime)
        stored = {ts: await stored_turns(slack.runtime, ts) for _, ts in before + during}

    assert sorted(state for state, _, _ in rows.values()) == ["done"] * 6
    for channel, ts in before + during:
        questions, answers = stored[ts]
        [message] = fake.thread(channel, ts)  # one message per question, no duplicate
        assert len(questions) == 1 and len(answers) == 1
        assert message.body == answers[0]
        assert SORRY not in message.body


async def busy_hour(pool: AsyncConnectionPool, connections: int) -> None:
    """Use ``connections`` connections at once, as a busy moment does: the pool grows to that
    size and keeps them, idle, afterwards."""

    async def query() -> None:
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_sleep(0.2)")

    await asyncio.gather(*(query() for _ in range(connections)))


async def test_a_question_asked_while_postgres_is_down_is_taken_on_first_delivery_once_it_is_back(
    settings: Settings, postgres: RestartablePostgres, redis_url: str
):
    # Guards the pool's recovery (store/database.py): after a restart every idle connection is
    # dead, and psycopg_pool's own pauses (doubling at each dead connection found, and between
    # reconnection attempts) kept a request waiting for longer than it may hold a delivery.
    model = FakeOpenAI(default_reply=long_answer(3))
    fake = FakeSlack()
    config = settings.model_copy(update={"database_url": SecretStr(postgres.url)})
    channel, ts = "D1", new_ts()
    async with (
        model_server(model) as url,
        replica(config, fake, model_url=url, redis_url=SecretStr(redis_url)) as slack,
    ):
        pool = slack.runtime.db.pool
        await busy_hour(pool, 12)
        assert pool.get_stats()["pool_size"] >= 12

        await postgres.stop()
        await asyncio.sleep(3)  # longer than psycopg_pool's first pauses (1 s, then 2 s)
        delivery = asyncio.create_task(
            slack.event(dm(QUESTIONS[0], ts=ts, channel=channel), event_id="EvDURING")
        )
        await asyncio.sleep(1)
        assert not delivery.done()  # held: not acknowledged before it is recorded
        await postgres.start()

        # Acknowledged on its first delivery: recorded before the inbox's accept timeout ran out.
        assert (await delivery).status == 200
        await eventually(lambda: all_finished(slack.runtime, 1), timeout=30, what="the answer")
        await slack.settle()
        rows = await inbox_rows(slack.runtime)
        questions, answers = await stored_turns(slack.runtime, ts)

    assert rows["EvDURING"][:2] == ("done", 1)
    [message] = fake.thread(channel, ts)
    assert questions == [QUESTIONS[0]] and answers == [message.body]
    assert SORRY not in message.body
