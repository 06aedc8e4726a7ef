"""Several real ``switchboard serve`` processes sharing one Postgres and one Redis, as a
load balancer would see them, with the fake Slack and the fake model served from the test."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bots.runtime import Runtime
from bots.settings import AppSettings as Settings
from tests.bots.slack.conftest import (
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    TEAM,
    serve_fake_slack,
    signed,
)
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.reliability.conftest import MODEL_KEY, model_server
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_slack import FakeSlack
from tests.support.services import free_port

SWITCHBOARD = Path(sys.executable).with_name("switchboard")
# Settings of ours a developer's shell may hold; the replicas get only what the test gives.
_OURS = ("SWITCHBOARD_", "SLACK_", "OPENAI_", "MICROSOFT_", "TEAMS_", "SHAREPOINT_", "CONFLUENCE_")


@dataclass
class Replica:
    """One ``switchboard serve`` process."""

    name: str
    port: int
    process: asyncio.subprocess.Process
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: the process dies with no chance to clean up (an OOM kill, a lost node)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
        await self.process.wait()

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines


@dataclass
class Cluster:
    """The replicas and what they share; ``deliver`` plays Slack."""

    replicas: list[Replica]
    fake: FakeSlack
    model: FakeOpenAI
    http: aiohttp.ClientSession

    async def deliver(
        self,
        replica: Replica,
        event: Mapping[str, Any],
        *,
        event_id: str,
        retry_num: int | None = None,
    ) -> int:
        """POST one signed event to one replica; the HTTP status it answered."""
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": TEAM,
                "api_app_id": "A0001",
                "event": dict(event),
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "team_id": TEAM,
                        "user_id": BOT_USER,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
            }
        )
        headers = {"Content-Type": "application/json", **signed(body)}
        if retry_num:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        async with self.http.post(f"{replica.url}/slack/events", data=body, headers=headers) as r:
            return r.status

    async def metric(self, name: str, **labels: str) -> float:
        """``name`` summed over every replica still running (read from ``/metrics``)."""
        total = 0.0
        for replica in self.replicas:
            if replica.process.returncode is not None:
                continue
            async with self.http.get(f"{replica.url}/metrics") as response:
                text = await response.text()
            for line in text.splitlines():
                if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
                    total += float(line.rsplit(" ", 1)[1])
        return total


def replica_env(settings: Settings, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    assert settings.database_url is not None
    env |= {
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "SWITCHBOARD_SAMPLE_KNOWLEDGE": "",
        "SWITCHBOARD_LOG_FORMAT": "json",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "OPENAI_API_KEY": MODEL_KEY,
        "SWITCHBOARD_CHAT_MODEL": "gpt-4o-mini",
        "SWITCHBOARD_ANSWER_CACHE_TTL": "0",
        "SWITCHBOARD_ROUTER_TIMEOUT": "1",
        "SWITCHBOARD_INBOX_LEASE_S": "4",
        "SWITCHBOARD_INBOX_SWEEP_S": "0.5",
        "SWITCHBOARD_INBOX_RETRY_DELAY_S": "0.3",
        "SLACK_STREAM_INTERVAL": "0.2",
        **more,
    }
    return env


async def start_replica(name: str, env: Mapping[str, str], folder: Path) -> Replica:
    port = free_port()
    log = folder / f"{name}.log"
    data = folder / name
    data.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(SWITCHBOARD),
            "serve",
            "--port",
            str(port),
            env={**env, "SWITCHBOARD_DATA_DIR": str(data)},
            cwd=data,  # no stray .env
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Replica(name=name, port=port, process=process, log=log)


async def wait_healthy(replica: Replica, http: aiohttp.ClientSession, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replica.process.returncode is not None:
            raise AssertionError(f"{replica.name} exited:\n{replica.log.read_text()[-3000:]}")
        try:
            async with http.get(f"{replica.url}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{replica.name} did not start:\n{replica.log.read_text()[-3000:]}")


@asynccontextmanager
async def cluster(
    settings: Settings,
    redis_url: str,
    folder: Path,
    *,
    size: int = 3,
    fake: FakeSlack | None = None,
    model: FakeOpenAI | None = None,
    **env: str,
) -> AsyncIterator[Cluster]:
    """``size`` replicas on ``settings``' database (the sample knowledge loaded first) and on
    a Redis database of their own, talking to a fake Slack and a fake model."""
    fake = fake or FakeSlack()
    fake.add_workspace(TEAM, BOT_TOKEN, bot_user_id=BOT_USER)
    model = model or FakeOpenAI()
    # A Redis database of this test's own, empty: no pacing left over from other tests.
    shared_redis = redis_url.rsplit("/", 1)[0] + "/7"
    client = Redis.from_url(shared_redis)
    await client.flushdb()
    await client.aclose()
    async with await Runtime.start(settings) as runtime:
        report = await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        assert not report.failed
    async with AsyncExitStack() as stack:
        slack_api = await stack.enter_async_context(serve_fake_slack(fake))
        model_url = await stack.enter_async_context(model_server(model))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        variables = replica_env(
            settings,
            **{
                "REDIS_URL": shared_redis,
                "SLACK_API_URL": slack_api,
                "OPENAI_BASE_URL": model_url,
                **env,  # REDIS_URL="" runs them without Redis
            },
        )
        replicas = [
            await start_replica(f"replica-{i}-{uuid.uuid4().hex[:4]}", variables, folder)
            for i in range(size)
        ]
        try:
            await asyncio.gather(*(wait_healthy(r, http) for r in replicas))
            yield Cluster(replicas=replicas, fake=fake, model=model, http=http)
        finally:
            model.release()
            await asyncio.gather(*(r.stop() for r in replicas))
