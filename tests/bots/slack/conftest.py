"""The real server over HTTP with signed Slack requests, against the local fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from bots.runtime import Runtime
from bots.server import build_app
from bots.settings import AppSettings as Settings
from bots.slack.bot import SlackBot
from bots.slack.http import SLACK
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.support.fake_slack import FakeSlack

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-0001-test-bot-token"
TEAM = "T0001"
BOT_USER = "UBOT"


@asynccontextmanager
async def serve_fake_slack(fake: FakeSlack) -> AsyncIterator[str]:
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    fake.set_base_url(url)
    try:
        yield url + "/api/"
    finally:
        await fake.close_sockets()
        await server.close()


def slack_settings(settings: Settings, api_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "slack_bot_token": SecretStr(BOT_TOKEN),
        "slack_signing_secret": SecretStr(SIGNING_SECRET),
        "slack_api_url": api_url,
        "slack_stream_interval_s": 0.2,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


def signed(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


def dm(
    text: str,
    *,
    user: str = "U1",
    channel: str = "D1",
    ts: str | None = None,
    thread_ts: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts or new_ts(),
        **more,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


_counter = iter(range(1, 10**9))


def new_ts() -> str:
    return f"{int(time.time())}.{next(_counter):06d}"


@dataclass
class SlackHarness:
    """Our server as Slack sees it: send signed events, read what the fake Web API got."""

    http: TestClient
    fake: FakeSlack
    bot: SlackBot
    runtime: Runtime
    team: str = TEAM

    def envelope(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        team: str | None = None,
        enterprise: str | None = None,
        org_install: bool = False,
    ) -> dict[str, Any]:
        team = team or self.team
        return {
            "token": "legacy-verification-token",
            "team_id": team,
            "enterprise_id": enterprise,
            "api_app_id": "A0001",
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": enterprise,
                    "team_id": None if org_install else team,
                    "user_id": BOT_USER,
                    "is_bot": True,
                    "is_enterprise_install": org_install,
                }
            ],
            "is_ext_shared_channel": False,
        }

    async def post_json(
        self,
        payload: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
    ) -> aiohttp.ClientResponse:
        body = json.dumps(payload)
        all_headers = {
            "Content-Type": "application/json",
            **signed(body, secret=secret, timestamp=timestamp),
            **(headers or {}),
        }
        return await self.http.post("/slack/events", data=body, headers=all_headers)

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        **kwargs: Any,
    ) -> aiohttp.ClientResponse:
        headers = {}
        if retry_num:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        envelope_keys = {
            k: kwargs.pop(k) for k in ("team", "enterprise", "org_install") if k in kwargs
        }
        return await self.post_json(
            self.envelope(event, event_id=event_id, **envelope_keys), headers=headers, **kwargs
        )

    async def form(self, fields: Mapping[str, str]) -> aiohttp.ClientResponse:
        body = urlencode(fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}
        return await self.http.post("/slack/events", data=body, headers=headers)

    async def interaction(self, payload: Mapping[str, Any]) -> aiohttp.ClientResponse:
        return await self.form({"payload": json.dumps(payload)})

    async def settle(self, timeout: float = 60) -> None:
        """Wait until every answer started so far has ended."""
        deadline = time.monotonic() + timeout
        await asyncio.sleep(0)
        while len(self.bot.tasks):
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.bot.tasks)} answers still running")
            await asyncio.sleep(0.02)

    async def answers(self) -> list[tuple[int, str]]:
        async with self.runtime.db.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, text FROM messages WHERE role = 'assistant' ORDER BY id"
            )
            return [(int(r[0]), str(r[1])) for r in await cur.fetchall()]


@asynccontextmanager
async def running_slack(
    settings: Settings, fake: FakeSlack, *, load: bool = True, **overrides: object
) -> AsyncIterator[SlackHarness]:
    """Fake Slack up, our runtime and server up (sample knowledge loaded), HTTP client ready."""
    if not fake.workspaces:
        fake.add_workspace(TEAM, BOT_TOKEN, bot_user_id=BOT_USER)
    async with serve_fake_slack(fake) as api_url:
        config = slack_settings(settings, api_url, **overrides)
        async with await Runtime.start(config) as runtime:
            if load:
                report = await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
                assert not report.failed, report.failed
            app = build_app(runtime)
            async with TestClient(TestServer(app, host="127.0.0.1")) as http:
                yield SlackHarness(http=http, fake=fake, bot=app[SLACK], runtime=runtime)


@pytest.fixture
async def slack(settings: Settings) -> AsyncIterator[SlackHarness]:
    async with running_slack(settings, FakeSlack()) as harness:
        yield harness
