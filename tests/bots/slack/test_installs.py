"""Installs through OAuth (workspace and Enterprise Grid org-wide), stored in Postgres, tokens
never logged; and Socket Mode instead of HTTP when an app token is set."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from pydantic import SecretStr

from bots.settings import AppSettings as Settings
from tests.bots.slack.conftest import SlackHarness, dm, new_ts, running_slack
from tests.support.fake_slack import FakeSlack

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "client-secret-value"
WORKSPACE_TOKEN = "xoxb-0002-beta-workspace-token"
ORG_TOKEN = "xoxb-e001-grid-org-token"


def grant(token: str, *, team: str | None, enterprise: str | None, bot_user: str) -> dict:
    return {
        "ok": True,
        "app_id": "A0001",
        "access_token": token,
        "token_type": "bot",
        "scope": "app_mentions:read,chat:write,im:history",
        "bot_user_id": bot_user,
        "team": {"id": team, "name": "Beta"} if team else None,
        "enterprise": {"id": enterprise, "name": "Grid"} if enterprise else None,
        "is_enterprise_install": team is None,
        "authed_user": {"id": "U9"},
    }


async def install(slack: SlackHarness, code: str) -> int:
    page = await slack.http.get("/slack/install", allow_redirects=False)
    assert page.status in (200, 302)
    body = await page.text()
    state = re.search(r"state=([A-Za-z0-9_\-]+)", page.headers.get("Location", "") + body)
    assert state, body
    cookie = page.headers.get("Set-Cookie", "").split(";")[0]
    done = await slack.http.get(
        f"/slack/oauth_redirect?code={code}&state={state.group(1)}", headers={"Cookie": cookie}
    )
    return done.status


async def test_workspace_and_org_wide_installs_answer_and_never_log_tokens(
    settings: Settings, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
):
    caplog.set_level(logging.DEBUG)
    fake = FakeSlack()
    fake.oauth_grants["code-beta"] = grant(
        WORKSPACE_TOKEN, team="T0002", enterprise=None, bot_user="UBOT2"
    )
    fake.oauth_grants["code-grid"] = grant(
        ORG_TOKEN, team=None, enterprise="E001", bot_user="UBOT3"
    )
    fake.add_workspace("T9999", "xoxb-unused")  # Slack knows other apps; ours has no token yet
    async with running_slack(
        settings,
        fake,
        slack_bot_token=None,
        slack_client_id=CLIENT_ID,
        slack_client_secret=SecretStr(CLIENT_SECRET),
    ) as slack:
        assert await install(slack, "code-beta") == 200
        assert await install(slack, "code-grid") == 200

        # A workspace install answers in that workspace, with that workspace's token.
        ts = new_ts()
        await slack.event(dm("How do I reset my password?", ts=ts), team="T0002")
        # A workspace of the Grid org, covered by the org-wide install.
        grid_ts = new_ts()
        await slack.event(
            dm("How do I reset my password?", ts=grid_ts, channel="D7", user="W7"),
            team="T0003",
            enterprise="E001",
            org_install=True,
        )
        await slack.settle()
        assert len(slack.fake.thread("D1", ts)) == 1
        assert len(slack.fake.thread("D7", grid_ts)) == 1
        teams = {c.team_id for c in fake.calls_to("chat.startStream")}
        assert teams == {"T0002", "E001"}

        async with slack.runtime.db.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT enterprise_id, team_id, is_enterprise_install FROM slack_bots ORDER BY id"
            )
            assert await cur.fetchall() == [(None, "T0002", False), ("E001", None, True)]
            # A state is good for one install only.
            cur = await conn.execute("SELECT count(*) FROM slack_oauth_states")
            assert await cur.fetchone() == (0,)

        # Uninstalling removes the workspace's tokens.
        await slack.event({"type": "app_uninstalled"}, team="T0002")
        await slack.settle()
        async with slack.runtime.db.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT team_id FROM slack_bots UNION ALL SELECT team_id FROM slack_installations"
            )
            assert {row[0] for row in await cur.fetchall()} == {None}

    logged = caplog.text + "".join(capsys.readouterr())
    assert "slack_installed" in logged and "T0002" in logged  # the install was logged, by id
    for secret in (WORKSPACE_TOKEN, ORG_TOKEN, CLIENT_SECRET):
        assert secret not in logged


async def test_an_oauth_redirect_with_a_made_up_state_installs_nothing(settings: Settings):
    fake = FakeSlack()
    fake.oauth_grants["code-beta"] = grant(
        WORKSPACE_TOKEN, team="T0002", enterprise=None, bot_user="UBOT2"
    )
    async with running_slack(
        settings,
        fake,
        load=False,
        slack_bot_token=None,
        slack_client_id=CLIENT_ID,
        slack_client_secret=SecretStr(CLIENT_SECRET),
    ) as slack:
        response = await slack.http.get(
            "/slack/oauth_redirect?code=code-beta&state=made-up",
            headers={"Cookie": "slack-app-oauth-state=made-up"},
        )
        assert response.status >= 400
        async with slack.runtime.db.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM slack_bots")
            assert await cur.fetchone() == (0,)


async def test_socket_mode_receives_events_acks_them_and_answers(settings: Settings):
    fake = FakeSlack()
    async with running_slack(
        settings, fake, slack_signing_secret=None, slack_app_token=SecretStr("xapp-1-test")
    ) as slack:
        await fake.wait_for_socket()
        # No signing secret: no HTTP endpoint for events.
        assert (await slack.http.post("/slack/events", data="{}")).status == 404
        ts = new_ts()
        envelope_id = await fake.push_envelope(
            slack.envelope(dm("How do I reset my password?", ts=ts))
        )
        for _ in range(500):
            if any(a["envelope_id"] == envelope_id for a in fake.socket_acks):
                break
            await asyncio.sleep(0.01)
        assert any(a["envelope_id"] == envelope_id for a in fake.socket_acks)
        await slack.settle()
        assert len(fake.thread("D1", ts)) == 1
