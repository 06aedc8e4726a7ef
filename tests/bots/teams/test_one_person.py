"""The same confirmed email on Slack and on Teams is one person: one history, one export, one
forget-me, one pace. A setting keeps them apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

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
from tests.support.conversations import rows
from tests.support.fake_connector import FakeConnector
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
