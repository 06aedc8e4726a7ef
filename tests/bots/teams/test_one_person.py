"""The same confirmed email on Slack and on Teams is one person: one history, one export, one
forget-me, one pace. A setting keeps them apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bots.runtime import Runtime
from bots.server import build_app
from bots.settings import AppSettings as Settings
from bots.slack.http import SLACK
from bots.teams import TEAMS
from tests.bots.slack.conftest import (
    BOT_TOKEN,
    BOT_USER,
    SlackHarness,
    dm,
    serve_fake_slack,
    slack_settings,
)
from tests.bots.slack.conftest import TEAM as SLACK_TEAM
from tests.bots.slack.test_commands_e2e import shown, slash
from tests.bots.teams.conftest import BotServer
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.support.conversations import rows
from tests.support.fake_connector import FakeConnector
from tests.support.fake_openai import FakeOpenAI, serve_fake
from tests.support.fake_openid import FakeBotFrameworkOpenId
from tests.support.fake_slack import FakeSlack

TEAMS_MARIA = {"user": "29:maria", "aad": "aad-maria", "user_name": "Maria"}
ON_SLACK = "How do I connect to the VPN from home?"
ON_TEAMS = "How many days of annual leave do I get?"


@dataclass
class Both:
    slack: SlackHarness
    teams: BotServer
    runtime: Runtime


@asynccontextmanager
async def both(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId, **overrides
) -> AsyncIterator[Both]:
    fake = FakeSlack()
    fake.add_workspace(SLACK_TEAM, BOT_TOKEN, bot_user_id=BOT_USER)
    fake.user_emails["UMARIA"] = "maria@example.com"
    connector.member_emails["29:maria"] = "Maria@example.com"
    async with (
        serve_fake_slack(fake) as api_url,
        await Runtime.start(slack_settings(settings, api_url, **overrides)) as rt,
    ):
        app = build_app(rt)
        async with (
            TestClient(TestServer(app, host="127.0.0.1")) as http,
            aiohttp.ClientSession() as session,
        ):
            yield Both(
                slack=SlackHarness(http=http, fake=fake, bot=app[SLACK], runtime=rt),
                teams=BotServer(
                    url=str(http.make_url("/api/messages")), session=session,
                    teams=app[TEAMS], runtime=rt, connector=connector, openid=openid,
                ),
                runtime=rt,
            )


async def ask_on_both(world: Both) -> None:
    await world.slack.event(dm(ON_SLACK, user="UMARIA", channel="DUMARIA"))
    await world.slack.settle()
    status, _ = await world.teams.post(world.teams.connector.activity(ON_TEAMS, **TEAMS_MARIA))
    assert status in (200, 201, 202)
    await world.teams.settle()


async def test_the_same_email_on_both_platforms_is_one_history(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId
):
    async with both(settings, connector, openid) as world:
        await ask_on_both(world)
        people = await rows(
            world.runtime.db.pool,
            "SELECT DISTINCT user_id FROM messages WHERE role = 'user'",
        )
        assert len(people) == 1
        # Her history on Slack shows what she asked on Teams, and the other way round.
        on_slack = shown(await slash(world.slack, "UMARIA", "history"))
        assert "annual leave" in on_slack and "VPN" in on_slack
        # Export from Teams holds both platforms' questions.
        await world.teams.post(world.teams.connector.activity("export", **TEAMS_MARIA))
        await world.teams.settle()
        [(exported,)] = await rows(
            world.runtime.db.pool,
            """SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
               WHERE lower(u.email) = 'maria@example.com' AND m.role = 'user'""",
        )
        assert exported == 2


async def test_a_setting_keeps_the_platforms_apart(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId
):
    async with both(settings, connector, openid, merge_platforms=False) as world:
        await ask_on_both(world)
        people = await rows(
            world.runtime.db.pool,
            "SELECT DISTINCT user_id FROM messages WHERE role = 'user'",
        )
        assert len(people) == 2
        assert "annual leave" not in shown(await slash(world.slack, "UMARIA", "history"))


async def latest_on_teams(world: Both, text: str) -> str:
    status, _ = await world.teams.post(world.teams.connector.activity(text, **TEAMS_MARIA))
    assert status in (200, 201, 202)
    await world.teams.settle()
    return world.teams.connector.visible(f"a:personal-{TEAMS_MARIA['user']}")[-1].text


@pytest.mark.parametrize("merged", [True, False], ids=["merged", "apart"])
async def test_the_rate_limit_spans_both_platforms(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId, merged: bool
):
    # Two questions at once, then one a minute: her third, on Teams, is one too many.
    limits = {"rate_limit_burst": 2, "rate_limit_per_minute": 1, "merge_platforms": merged}
    async with both(settings, connector, openid, **limits) as world:
        for text in (ON_SLACK, ON_TEAMS):
            await world.slack.event(dm(text, user="UMARIA", channel="DUMARIA"))
            await world.slack.settle()
        third = await latest_on_teams(world, "How do I reset my password?")
        assert ("asking fast" in third) is merged


async def test_the_daily_budget_spans_both_platforms(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId
):
    model = FakeOpenAI()
    async with serve_fake(model) as url:
        priced = {
            "openai_base_url": url, "openai_api_key": SecretStr("test-key"),
            "chat_model": "fake-chat", "model_prices": {"fake-chat": (1_000_000.0, 1_000_000.0)},
            "answer_cache_ttl": 0, "user_daily_budget_usd": 5.0,
        }
        async with both(settings, connector, openid, **priced) as world:
            assert not (await world.runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])).failed
            await world.slack.event(dm(ON_SLACK, user="UMARIA", channel="DUMARIA"))
            await world.slack.settle()
            calls = model.count("chat")
            assert calls >= 1  # answered on Slack, and over her budget now
            assert "today's allowance" in await latest_on_teams(world, ON_TEAMS)
            assert model.count("chat") == calls


async def test_forget_me_on_one_platform_forgets_the_person_on_both(
    settings: Settings, connector: FakeConnector, openid: FakeBotFrameworkOpenId
):
    async with both(settings, connector, openid) as world:
        await ask_on_both(world)
        pool = world.runtime.db.pool
        assert len(await rows(pool, "SELECT id FROM users WHERE platform_user_id IN "
                                    "('UMARIA', 'aad-maria')")) == 2
        looked_up = len(world.slack.fake.calls_to("users.info"))

        await latest_on_teams(world, "forget-me")
        card = world.teams.connector.visible(f"a:personal-{TEAMS_MARIA['user']}")[-1]
        confirm = card.activity["attachments"][0]["content"]
        [button] = [a for a in confirm["actions"] if a["title"] == "Yes, delete my data"]
        assert "forgotten you" in await latest_on_teams(world, button["data"]["msteams"]["text"])

        # Her Slack questions and answers are gone with her Teams ones, and neither account
        # keeps her name or email (the rows stay with ids and role only, store/privacy.py).
        assert await rows(pool, "SELECT role, user_id, text FROM messages") == []
        assert await rows(pool, """SELECT platform_user_id FROM users
                                   WHERE email IS NOT NULL OR display_name IS NOT NULL""") == []
        # Who she is on Slack is not remembered either: her next question asks Slack again.
        await world.slack.event(dm(ON_SLACK, user="UMARIA", channel="DUMARIA"))
        await world.slack.settle()
        assert len(world.slack.fake.calls_to("users.info")) > looked_up
