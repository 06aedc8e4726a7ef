"""Only the Bot Connector may post to /api/messages; with no app id, anonymous local mode."""

from __future__ import annotations

import aiohttp
import pytest
from structlog.testing import capture_logs

from bots.runtime import Runtime
from bots.server import build_app, describe_configuration
from bots.settings import AppSettings
from tests.bots.teams.conftest import BotFactory, BotServer, _serve

QUESTION = "How do I reset my password?"


@pytest.mark.parametrize(
    "case",
    [
        "wrong audience",
        "wrong issuer",
        "expired",
        "bad signature",
        "unknown key",
        "other service url",
        "no token",
        "not a bearer token",
    ],
)
async def test_requests_without_a_valid_connector_token_get_401(bot: BotServer, case: str):
    activity = bot.connector.activity(QUESTION)
    tokens = {
        "wrong audience": lambda: bot.token(audience="someone-elses-app"),
        "wrong issuer": lambda: bot.token(issuer="https://sts.windows.net/evil/"),
        # Six minutes past expiry: beyond the five minutes of clock skew allowed.
        "expired": lambda: bot.token(expires_in=-360),
        "bad signature": lambda: bot.token(forged=True),
        "unknown key": lambda: bot.token(kid="not-published"),
        "other service url": lambda: bot.token(service_url="https://attacker.example/"),
    }
    if case in tokens:
        status, body = await bot.post(activity, token=tokens[case]())
    elif case == "no token":
        status, body = await bot.post(activity, signed=False)
    else:
        async with bot.session.post(
            bot.url, json=activity, headers={"Authorization": "Basic abc"}
        ) as r:
            status, body = r.status, await r.read()
    assert status == 401, body
    await bot.settle()
    assert bot.connector.requests == []  # nothing was answered
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM inbox")
        assert (await cur.fetchone()) == (0,)


async def test_token_within_clock_skew_is_accepted(bot: BotServer):
    # Expired two minutes ago: within the five minutes Bot Framework allows for clock skew.
    status, _ = await bot.post(bot.connector.activity(QUESTION), token=bot.token(expires_in=-120))
    assert status == 200
    await bot.settle()
    assert bot.connector.messages


async def test_anonymous_local_mode_is_announced_and_answers_unsigned(make_bot: BotFactory):
    with capture_logs() as logs:
        bot = await make_bot(microsoft_app_id=None, microsoft_app_password=None)
    warning = [e for e in logs if e["event"] == "teams_anonymous_mode"]
    assert warning and warning[0]["log_level"] == "warning"
    assert "WITHOUT authentication" in warning[0]["detail"]

    activity = bot.connector.activity(QUESTION)
    status, _ = await bot.post(activity, signed=False)
    assert status == 200
    await bot.settle()
    assert bot.connector.visible(activity["conversation"]["id"])
    assert {r.authorization for r in bot.connector.requests} == {None}


async def test_answer_teams_refuses_to_deliver_is_marked_failed_in_the_inbox(bot: BotServer):
    # Teams turns the bot's calls away (say its secret was rotated): the question is recorded
    # as failed, with the reason, for an operator to see.
    bot.connector.expected_token = "a-token-entra-did-not-issue"
    await bot.post(bot.connector.activity(QUESTION))
    await bot.settle()
    assert bot.connector.statuses(401)
    assert not bot.connector.messages
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT state, last_error FROM inbox")
        [(state, error)] = await cur.fetchall()
    assert state == "failed" and "401" in error


async def test_anonymous_mode_is_not_mounted_on_a_server_open_to_the_network(
    settings: AppSettings,
):
    # `serve --host 0.0.0.0` for Slack alone, Teams not configured: /api/messages must not
    # answer anyone (it would answer from the knowledge base and post wherever it was told).
    exposed = settings.model_copy(
        update={"host": "0.0.0.0", "microsoft_app_id": None, "microsoft_app_password": None}
    )
    runtime = await Runtime.start(exposed)
    server = await _serve(build_app(runtime))
    try:
        async with aiohttp.ClientSession() as session:
            url = str(server.make_url("/api/messages"))
            async with session.post(url, json={"type": "message", "text": "hi"}) as response:
                assert response.status == 404
        banner = describe_configuration(exposed, "http://0.0.0.0:3978", "DATABASE_URL", "")
        assert "Teams           not mounted — MICROSOFT_APP_ID is not set" in banner
        assert "only for a server on 127.0.0.1" in banner
    finally:
        await server.close()
        await runtime.aclose()


async def test_anonymous_mode_replies_only_to_a_service_url_on_this_machine(
    make_bot: BotFactory,
):
    bot = await make_bot(microsoft_app_id=None, microsoft_app_password=None)
    activity = bot.connector.activity(QUESTION)
    activity["serviceUrl"] = "http://203.0.113.9:8080/"  # somewhere the caller chose

    status, _ = await bot.post(activity, signed=False)

    assert status == 401
    await bot.settle()
    assert not bot.connector.requests
