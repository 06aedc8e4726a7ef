"""Three ``switchboard serve`` processes behind one address: one Postgres, one Redis.

Slack may deliver an event (and its retries) to any replica; replicas die; the scheduler fires
on all of them. Each question is still answered once, the workspace's Slack budget is shared,
and each job slot runs once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bots.settings import AppSettings as Settings
from tests.bots.slack.conftest import dm, new_ts
from tests.reliability.cluster import cluster
from tests.reliability.conftest import eventually, long_answer
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_slack import FakeSlack

pytestmark = pytest.mark.slow

QUESTIONS = (
    "How do I connect to the VPN from home?",
    "How many days of annual leave do I get?",
    "How do I reset my password?",
    "What is the travel expense policy?",
    "How do I request new hardware?",
    "When is payday?",
)


async def query(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    assert settings.database_url is not None
    async with await psycopg.AsyncConnection.connect(
        settings.database_url.get_secret_value(), autocommit=True
    ) as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def finished(settings: Settings, count: int) -> bool:
    rows = await query(settings, "SELECT state FROM inbox")
    return len(rows) == count and all(state in ("done", "failed") for (state,) in rows)


async def answers_in(settings: Settings, thread_ts: str) -> list[str]:
    rows = await query(
        settings,
        """SELECT m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id
           WHERE c.thread_id = %s AND m.role = 'assistant' ORDER BY m.id""",
        thread_ts,
    )
    return [text for (text,) in rows]


async def test_an_event_delivered_to_every_replica_is_answered_once(
    settings: Settings, redis_url: str, tmp_path: Path
):
    async with cluster(settings, redis_url, tmp_path) as c:
        threads = [(f"D{i}", new_ts()) for i in range(len(QUESTIONS))]
        for (channel, ts), question in zip(threads, QUESTIONS, strict=True):
            event = dm(question, ts=ts, channel=channel, user=f"U{channel}")
            # The first delivery to one replica, Slack's retries to the others, all at once.
            statuses = await asyncio.gather(
                *(
                    c.deliver(replica, event, event_id=f"Ev{ts}", retry_num=n)
                    for n, replica in enumerate(c.replicas)
                )
            )
            assert statuses == [200, 200, 200]
        await eventually(lambda: finished(settings, len(threads)), what="every event finished")
        await asyncio.sleep(0.5)  # let any (wrong) second answer show up
        deduplicated = await c.metric("switchboard_events_deduplicated_total", platform="slack")
        for channel, ts in threads:
            [message] = c.fake.thread(channel, ts)
            assert await answers_in(settings, ts) == [message.body]
    assert deduplicated == 2 * len(threads)
    assert len(c.model.bodies("chat")) == len(threads)  # the model asked once per question


async def test_three_replicas_share_one_slack_budget_through_redis(
    settings: Settings, redis_url: str, tmp_path: Path
):
    # Slack's minute shrunk to 20 s, on both sides: chat.startStream (Tier 2) allows 20 calls
    # per window per workspace, whichever replica makes them. 30 answers at once would take 30
    # with three private budgets of 20 each; a shared budget streams 20 and posts the rest.
    window = "20"
    fake = FakeSlack(window_s=float(window))
    async with cluster(settings, redis_url, tmp_path, fake=fake, SLACK_PACING_WINDOW_S=window) as c:
        threads = [(f"D{i}", new_ts()) for i in range(30)]
        await asyncio.gather(
            *(
                c.deliver(
                    c.replicas[i % 3],
                    dm(QUESTIONS[i % len(QUESTIONS)], ts=ts, channel=channel, user=f"U{i}"),
                    event_id=f"Ev{ts}",
                )
                for i, (channel, ts) in enumerate(threads)
            )
        )
        await eventually(lambda: finished(settings, len(threads)), what="every event finished")
        for channel, ts in threads:
            [message] = fake.thread(channel, ts)
            assert await answers_in(settings, ts) == [message.body]
        starts = fake.calls_to("chat.startStream")
        served_by = {
            r.name
            for r in c.replicas
            if any(line.get("event") == "answered" for line in r.log_lines())
        }
    assert fake.rate_limited == []  # not one 429
    assert len([s for s in starts if s.ok]) == 20  # the whole shared budget, and no more
    assert len(served_by) == 3  # every replica answered some


async def test_each_job_slot_runs_on_one_replica_only(
    settings: Settings, redis_url: str, tmp_path: Path
):
    # The summaries job every two seconds on all three replicas, for a while.
    async with cluster(
        settings, redis_url, tmp_path, SWITCHBOARD_SUMMARIES_CRON="*/2 * * * * *"
    ) as c:
        await eventually(
            lambda: _slots_at_least(settings, 4), timeout=60, what="four scheduled slots"
        )
        await asyncio.sleep(2.5)  # every replica has had its go at the last slot
        counted = await c.metric("switchboard_job_runs_total", job="summaries")
        runs = await query(
            settings,
            """SELECT scheduled_for, outcome, replica FROM job_runs
               WHERE job = 'summaries' AND trigger = 'schedule'""",
        )
    slots = [slot for slot, _, _ in runs]
    assert len(slots) == len(set(slots)) >= 4  # each slot once
    assert all(outcome in ("succeeded", "skipped") for _, outcome, _ in runs)
    finished_runs = len(runs)
    assert finished_runs - 1 <= counted <= finished_runs  # a run may still be in flight


async def _slots_at_least(settings: Settings, n: int) -> bool:
    rows = await query(
        settings, "SELECT count(*) FROM job_runs WHERE job = 'summaries' AND trigger = 'schedule'"
    )
    return rows[0][0] >= n


async def test_a_replica_killed_mid_answer_is_taken_over_in_the_same_message(
    settings: Settings, redis_url: str, tmp_path: Path
):
    model = FakeOpenAI(default_reply=long_answer(20))
    model.behaviour.token_interval_s = 0.05
    async with cluster(settings, redis_url, tmp_path, model=model) as c:
        ts = new_ts()
        doomed = c.replicas[0]
        assert await c.deliver(doomed, dm(QUESTIONS[0], ts=ts), event_id="EvKILL") == 200
        await eventually(
            lambda: bool(c.fake.thread("D1", ts)) and len(c.fake.thread("D1", ts)[0].text) > 40,
            what="the answer to be half streamed",
        )
        doomed.kill()  # SIGKILL, mid-stream
        half = c.fake.thread("D1", ts)[0].text
        model.behaviour.token_interval_s = 0.0
        await eventually(lambda: finished(settings, 1), what="another replica to finish it")
        [(state, attempts, owner)] = await query(
            settings, "SELECT state, attempts, owner FROM inbox"
        )
        answers = await answers_in(settings, ts)
        [message] = c.fake.thread("D1", ts)
        # The takeover's log lines carry the event, so one filter follows it across replicas.
        taken_over = [
            line
            for r in c.replicas[1:]
            for line in r.log_lines()
            if line.get("event") in {"event_redelivered", "answered"}
        ]
    assert {(line.get("request_id"), line.get("event_key")) for line in taken_over} == {
        ("EvKILL", "EvKILL")
    }
    assert (state, attempts) == ("done", 2)
    assert owner is not None and str(doomed.process.pid) not in owner.split(":")[-1:]
    assert answers == [message.body] and message.body == long_answer(20)
    assert half and not message.streaming


async def test_socket_mode_events_carry_their_event_id_in_every_log_line(
    settings: Settings, redis_url: str, tmp_path: Path
):
    fake = FakeSlack()
    async with cluster(
        settings,
        redis_url,
        tmp_path,
        size=1,
        fake=fake,
        SLACK_APP_TOKEN="xapp-1-test",
        SLACK_SIGNING_SECRET="",
    ) as c:
        await fake.wait_for_socket(timeout=30)
        ts = new_ts()
        payload = {
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": "EvSOCKET",
            "event_time": 0,
            "event": dm(QUESTIONS[0], ts=ts),
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
        }
        await fake.push_envelope(payload)
        await eventually(lambda: finished(settings, 1), what="the answer")
        await eventually(
            lambda: any(line.get("event") == "answered" for line in c.replicas[0].log_lines()),
            what="the answered log line",
        )
        lines = [line for line in c.replicas[0].log_lines() if line.get("event_key") == "EvSOCKET"]
    assert {line["event"] for line in lines} >= {"answered"}
    assert {line.get("request_id") for line in lines} == {"EvSOCKET"}
