"""Teams: a replica dies mid-answer in a group chat or channel; another one finishes the answer
in the same message, through a conversation it continues on its own (no incoming request)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from bots.runtime import Runtime
from bots.server import build_app
from bots.settings import AppSettings as Settings
from tests.bots.teams import conftest as teams
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.reliability.conftest import (
    MODEL_KEY,
    QUICK_INBOX,
    all_finished,
    counter,
    eventually,
    inbox_rows,
    model_server,
)
from tests.support.fake_connector import CHANNEL, GROUP_CHAT, FakeConnector
from tests.support.fake_openai import FakeOpenAI, cited_prose
from tests.support.fake_openid import FakeBotFrameworkOpenId

# The Teams tests' fixtures (fake Bot Connector, OpenID keys, Entra, settings), used here too.
APP_ID = teams.APP_ID
openid_keys, openid, tls_files, entra = (
    teams.openid_keys,
    teams.openid,
    teams.tls_files,
    teams.entra,
)
connector, teams_settings, settings = teams.connector, teams.teams_settings, teams.settings

QUESTION = "How do I connect to the VPN from home?"
# Fifteen cited sentences, no figures, no repeated runs: the grounding check shows them whole.
ANSWER = cited_prose(15, seed=45)


@dataclass
class TeamsReplica:
    url: str
    session: aiohttp.ClientSession
    runtime: Runtime

    async def post(self, activity: dict[str, Any], token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.post(self.url, json=activity, headers=headers) as response:
            return response.status


@asynccontextmanager
async def teams_replica(
    settings: Settings, model_url: str, *, load: bool = True
) -> AsyncIterator[TeamsReplica]:
    config = settings.model_copy(
        update={
            **QUICK_INBOX,
            "openai_base_url": model_url,
            "openai_api_key": SecretStr(MODEL_KEY),
            "chat_model": "gpt-4o-mini",
            "answer_cache_ttl": 0,
            "router_timeout": 1.0,
        }
    )
    async with await Runtime.start(config) as runtime:
        if load:
            assert not (await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])).failed
        server = TestServer(build_app(runtime), host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as session:
                yield TeamsReplica(str(server.make_url("/api/messages")), session, runtime)
        finally:
            await server.close()


def die() -> None:
    """This replica's answers in flight stop where they are."""
    for task in asyncio.all_tasks():
        name = getattr(task.get_coro(), "__qualname__", "")
        if task.get_name() == "teams-reply-pump" or name == "QuestionLifecycle.answer":
            task.cancel()


async def test_a_group_chat_answer_left_half_done_is_finished_in_the_same_message(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId
):
    await _half_done_then_finished(settings, connector, openid, GROUP_CHAT)


async def test_a_channel_answer_left_half_done_is_finished_in_the_same_message(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId
):
    await _half_done_then_finished(settings, connector, openid, CHANNEL)


async def _half_done_then_finished(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId, kind: str
) -> None:
    model = FakeOpenAI(default_reply=ANSWER)
    model.behaviour.token_interval_s = 0.05
    activity = connector.activity(QUESTION, kind=kind)
    conversation = activity["conversation"]["id"]
    token = openid.mint(audience=APP_ID, service_url=connector.base_url)
    async with model_server(model) as url:
        async with teams_replica(settings, url) as first:
            assert await first.post(activity, token) == 200
            await eventually(
                lambda: any(m.edits for m in connector.visible(conversation)),
                what="the reply to be posted and edited",
            )
            half = connector.visible(conversation)[0].text
            die()
        model.behaviour.token_interval_s = 0.0
        async with teams_replica(settings, url, load=False) as second:
            await eventually(lambda: all_finished(second.runtime, 1), what="the takeover")
            rows = await inbox_rows(second.runtime)
            edits = counter(
                second.runtime,
                "switchboard_platform_calls_total",
                platform="teams",
                method="updateActivity",
                outcome="ok",
            )
            async with second.runtime.db.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT role, count(*) FROM messages GROUP BY role ORDER BY role"
                )
                stored = dict(await cur.fetchall())

    [reply] = connector.visible(conversation)  # the half-done message, finished
    assert half and half != reply.text
    assert reply.text == ANSWER
    assert reply.activity["channelData"]["feedbackLoop"] == {"type": "default"}
    assert [r.status for r in connector.requests if r.status >= 400] == []
    assert list(rows.values()) == [("done", 2, None)]
    assert stored == {"assistant": 1, "user": 1}
    assert edits >= 1  # the takeover edited the message; /metrics counts it by operation


async def test_a_personal_chat_answer_cut_by_a_dead_replica_arrives_whole_once(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId
):
    # A stream cannot be continued from another process: the new attempt posts the answer as
    # a message and edits it; the dead stream is left for Teams to end (it shows what it had).
    model = FakeOpenAI(default_reply=ANSWER)
    model.behaviour.token_interval_s = 0.05
    activity = connector.activity(QUESTION)
    conversation = activity["conversation"]["id"]
    token = openid.mint(audience=APP_ID, service_url=connector.base_url)
    async with model_server(model) as url:
        async with teams_replica(settings, url) as first:
            assert await first.post(activity, token) == 200
            await eventually(
                lambda: any(len(s.chunks) >= 2 for s in connector.streams_in(conversation)),
                what="the answer to stream",
            )
            die()
        model.behaviour.token_interval_s = 0.0
        async with teams_replica(settings, url, load=False) as second:
            await eventually(lambda: all_finished(second.runtime, 1), what="the takeover")
            rows = await inbox_rows(second.runtime)

    [stream] = connector.streams_in(conversation)
    assert stream.final is None  # the dead attempt never finished its stream
    [reply] = connector.visible(conversation)  # the whole answer, once
    assert reply.text == ANSWER
    assert list(rows.values()) == [("done", 2, None)]


async def test_signed_teams_calls_leave_through_the_apps_own_session_and_are_counted(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId
):
    # Regression: with an app id (signed calls), msrest's default pipeline took the calls over
    # and sent them with ``requests`` in threads, around the counted aiohttp sender.
    model = FakeOpenAI(default_reply=ANSWER)
    activity = connector.activity(QUESTION, kind=GROUP_CHAT)
    token = openid.mint(audience=APP_ID, service_url=connector.base_url)
    async with model_server(model) as url, teams_replica(settings, url) as bot:
        assert await bot.post(activity, token) == 200
        await eventually(lambda: all_finished(bot.runtime, 1), what="the answer")
        replies = counter(
            bot.runtime,
            "switchboard_platform_calls_total",
            platform="teams",
            method="replyToActivity",
            outcome="ok",
        )
    assert replies == 1
    assert all(
        r.authorization and r.authorization.startswith("Bearer ") for r in connector.requests
    )
