"""Redis dies: the bot keeps answering on in-process fallbacks, and the Postgres inbox still
answers each event once (dedupe, pacing and the answer cache lose only their sharing)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from core.settings import Settings
from tests.bots.slack.conftest import dm, new_ts
from tests.reliability.conftest import (
    SORRY,
    all_finished,
    counter,
    eventually,
    inbox_rows,
    model_server,
    replica,
    stored_turns,
)
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_slack import FakeSlack
from tests.support.services import free_port

REPLY = "Open the VPN client, choose the nearest gateway and sign in with your account [1]."


class KillableRedis:
    """A redis-server of this test's own, to be killed mid-test."""

    def __init__(self, binary: str) -> None:
        self.port = free_port()
        self._folder = tempfile.mkdtemp(prefix="sbredis-")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._folder,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def cleanup(self) -> None:
        if self.process.poll() is None:
            self.kill()
        shutil.rmtree(self._folder, ignore_errors=True)


@pytest.fixture
def redis_process(redis_url: str) -> Iterator[KillableRedis]:
    # ``redis_url`` only for its skip/fail rule when redis-server is not installed.
    binary = shutil.which("redis-server")
    assert binary is not None
    server = KillableRedis(binary)
    try:
        yield server
    finally:
        server.cleanup()


async def test_with_redis_killed_questions_are_still_answered_once_each(
    settings: Settings, redis_process: KillableRedis
):
    model = FakeOpenAI(default_reply=REPLY)
    fake = FakeSlack()
    before = [(f"D{i}", new_ts()) for i in range(2)]
    after = [(f"D{i}", new_ts()) for i in range(2, 5)]
    questions = [
        "How do I connect to the VPN from home?",
        "How many days of annual leave do I get?",
        "How do I connect to the VPN from home?",  # a repeat: the answer cache is asked
        "How do I reset my password?",
        "What is the travel expense policy?",
    ]
    async with (
        model_server(model) as url,
        replica(
            settings,
            fake,
            model_url=url,
            redis_url=SecretStr(redis_process.url),
            answer_cache_ttl=3600,
        ) as slack,
    ):
        for (channel, ts), question in zip(before, questions[:2], strict=True):
            await slack.event(dm(question, ts=ts, channel=channel))
        await eventually(lambda: all_finished(slack.runtime, 2))
        probe = Redis.from_url(redis_process.url)
        shared_keys = await probe.keys("sb:*")
        await probe.aclose()

        redis_process.kill()
        for (channel, ts), question in zip(after, questions[2:], strict=True):
            event = dm(question, ts=ts, channel=channel)
            # Each delivered three times at once (Slack's retries, or two replicas): with
            # Redis gone, the Postgres inbox alone turns the copies away.
            responses = await asyncio.gather(
                *(
                    slack.event(event, event_id=f"Ev{ts.replace('.', '')}", retry_num=n)
                    for n in (None, 1, 2)
                )
            )
            assert [r.status for r in responses] == [200, 200, 200]
        await eventually(lambda: all_finished(slack.runtime, 5))
        await slack.settle()
        ready = await slack.http.get("/readyz")
        readiness = await ready.json()
        rows = await inbox_rows(slack.runtime)
        stored = {ts: await stored_turns(slack.runtime, ts) for _, ts in before + after}
        duplicates = counter(
            slack.runtime, "switchboard_events_deduplicated_total", platform="slack"
        )

    assert any(key.startswith(b"sb:slack:") for key in shared_keys)  # Redis was in use
    assert sorted(state for state, _, _ in rows.values()) == ["done"] * 5
    for channel, ts in before + after:
        questions_stored, answers = stored[ts]
        [message] = fake.thread(channel, ts)
        assert len(questions_stored) == 1 and answers == [message.body]
        assert SORRY not in message.body
    assert duplicates == 6  # two turned-away copies of each of the three events
    # Still serving, and saying what is wrong without leaving the load balancer.
    assert ready.status == 200
    assert readiness["status"] == "degraded" and readiness["checks"]["redis"] != "ok"
