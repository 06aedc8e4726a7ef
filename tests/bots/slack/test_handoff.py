""" "Talk to a person" on Slack: the button under an answer, the help channel post, the
webhook (signed, retried) and the note to the person — once per answer and person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from bots.settings import AppSettings as Settings
from tests.bots.slack.conftest import TEAM, SlackHarness, dm, new_ts, running_slack
from tests.support.fake_slack import FakeSlack
from tests.support.fake_webhook import FakeWebhook

HELP = "CHELP"
SECRET = "shared-handoff-secret"


@asynccontextmanager
async def webhook_up(fake: FakeWebhook) -> AsyncIterator[str]:
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/tickets"))
    finally:
        await server.close()


def press(message_id: int, ts: str, *, user: str = "U1", channel: str = "D1") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user, "team_id": TEAM, "username": user.lower(), "name": user.lower()},
        "api_app_id": "A0001",
        "token": "legacy",
        "trigger_id": "trigger-h",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "channel": {"id": channel, "name": "directmessage"},
        "message": {"ts": ts, "thread_ts": ts},
        "actions": [
            {
                "type": "button",
                "action_id": "answer_handoff",
                "block_id": f"handoff-{message_id}",
                "value": str(message_id),
                "text": {"type": "plain_text", "text": "Talk to a person"},
                "action_ts": new_ts(),
            }
        ],
    }


async def ask(slack: SlackHarness, question: str) -> tuple[int, str, dict[str, Any] | None]:
    """A DM question answered; the answer's id, its thread, and its hand-off button if any."""
    ts = new_ts()
    await slack.event(dm(question, ts=ts))
    await slack.settle()
    message_id = (await slack.answers())[-1][0]
    buttons = [
        element
        for message in slack.fake.thread("D1", ts)
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
        if element.get("action_id") == "answer_handoff"
    ]
    assert len(buttons) <= 1
    return message_id, ts, buttons[0] if buttons else None


async def destinations(slack: SlackHarness) -> list[str]:
    async with slack.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT destination FROM handoffs ORDER BY id")
        return [str(r[0]) for r in await cur.fetchall()]


async def audit(slack: SlackHarness) -> list[tuple[str, str | None, str]]:
    async with slack.runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT actor, target, outcome FROM audit_log WHERE action = 'handoff' ORDER BY id"
        )
        return [(str(r[0]), r[1], str(r[2])) for r in await cur.fetchall()]


async def test_handoff_reaches_the_help_channel_and_webhook_once_per_press(settings: Settings):
    hook = FakeWebhook(SECRET, failures=2)  # the ticketing system is down twice: retried
    async with (
        webhook_up(hook) as url,
        running_slack(
            settings,
            FakeSlack(),
            slack_handoff_channel=HELP,
            handoff_webhook=url,
            handoff_webhook_secret=SecretStr(SECRET),
        ) as slack,
    ):
        message_id, ts, button = await ask(slack, "How do I reset my password?")
        assert button is not None and button["value"] == str(message_id)

        assert (await slack.interaction(press(message_id, ts))).status == 200
        await slack.settle()

        [post] = slack.fake.messages[HELP]
        shown = "\n".join(b["text"]["text"] for b in post.blocks if "text" in b) + str(post.blocks)
        assert "<@U1>" in shown
        assert "How do I reset my password?" in shown
        assert f"https://slack.com/archives/D1/p{ts.replace('.', '')}" in shown
        [told] = [m for m in slack.fake.thread("D1", ts) if "passed your question" in m.text]
        assert f"<#{HELP}>" in told.text and "ticket system" in told.text

        # Delivered on the third try, signed, the same delivery id each time.
        assert [d.status for d in hook.received] == [503, 503, 200]
        assert len({d.delivery_id for d in hook.received}) == 1
        ticket = hook.accepted[0].body
        assert ticket["schema"] == "switchboard.handoff/v1"
        assert ticket["question"] == "How do I reset my password?"
        assert ticket["message_id"] == message_id
        assert ticket["person"]["user_id"] == "U1"
        # The requester's confirmed email, for a ticketing system that answers by mail.
        assert ticket["person"]["email"] == "u1@example.com"
        assert ticket["answer"] == (await slack.answers())[-1][1]

        # A second press: nothing new is sent, and the person is told so.
        await slack.interaction(press(message_id, ts))
        await slack.settle()
        assert len(slack.fake.messages[HELP]) == 1
        assert len(hook.accepted) == 1
        assert any("already sent" in m.text for m in slack.fake.thread("D1", ts))

        # Someone else pressing the same answer is their own hand-off.
        await slack.interaction(press(message_id, ts, user="U7"))
        await slack.settle()
        assert len(slack.fake.messages[HELP]) == 2

        async with slack.runtime.db.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM handoffs WHERE message_id = %s", (message_id,)
            )
            assert (await cur.fetchone())[0] == 2
        # Where each one arrived: the channel at once, the webhook once delivered.
        assert await destinations(slack) == ["channel+webhook", "channel+webhook"]
        assert [o for _, _, o in await audit(slack)] == ["sent", "already", "sent"]
        assert {t for _, t, _ in await audit(slack)} == {f"message:{message_id}"}
        counted = slack.runtime.metrics.registry.get_sample_value(
            "switchboard_handoffs_total", {"platform": "slack", "outcome": "sent"}
        )
        assert counted == 2


async def test_a_forged_signature_is_refused_by_the_receiver(settings: Settings):
    hook = FakeWebhook("the-receivers-secret")
    async with (
        webhook_up(hook) as url,
        running_slack(
            settings,
            FakeSlack(),
            handoff_webhook=url,
            handoff_webhook_secret=SecretStr("not-the-same-secret"),
            handoff_webhook_attempts=2,
        ) as slack,
    ):
        message_id, ts, button = await ask(slack, "How do I reset my password?")
        assert button is not None  # the webhook alone is enough to offer it
        await slack.interaction(press(message_id, ts))
        await slack.settle()
        # 401 is not retried: a wrong secret will not get better.
        assert [(d.signed, d.status) for d in hook.received] == [(False, 401)]
        assert not slack.fake.messages.get(HELP)
        # It arrived nowhere: the person is told so, and may press again.
        assert any("was not passed on" in m.text for m in slack.fake.thread("D1", ts))
        assert await destinations(slack) == []
        assert [o for _, _, o in await audit(slack)] == ["sent", "failed"]


async def test_with_nothing_configured_no_button_is_shown(settings: Settings):
    async with running_slack(settings, FakeSlack()) as slack:
        message_id, ts, button = await ask(slack, "How do I reset my password?")
        assert button is None
        # A stale or forged press is refused, and nothing is recorded as sent.
        await slack.interaction(press(message_id, ts))
        await slack.settle()
        assert [o for _, _, o in await audit(slack)] == ["failed"]
        assert any("not set up" in m.text for m in slack.fake.thread("D1", ts))


async def test_a_slow_ticketing_system_does_not_hold_up_the_note_to_the_person(settings: Settings):
    hook = FakeWebhook(SECRET, delay_s=1.5)
    async with (
        webhook_up(hook) as url,
        running_slack(
            settings, FakeSlack(), handoff_webhook=url, handoff_webhook_secret=SecretStr(SECRET)
        ) as slack,
    ):
        message_id, ts, _ = await ask(slack, "How do I reset my password?")
        await slack.interaction(press(message_id, ts))
        await slack.settle()
        [told] = [m for m in slack.fake.thread("D1", ts) if "your question and my answer" in m.text]
        assert "ticket system" in told.text
        [delivery] = hook.accepted
        assert told.started_at < delivery.at - 1.0
