"""Only the Bot Connector may post to /api/messages; with no app id, anonymous local mode."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from tests.bots.teams.conftest import BotFactory, BotServer

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
