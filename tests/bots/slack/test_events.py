"""Where people talk to the bot in Slack, and that each question is answered exactly once."""

from __future__ import annotations

import asyncio
import time

from pydantic import SecretStr

from bots.settings import AppSettings as Settings
from tests.bots.slack.conftest import BOT_USER, TEAM, SlackHarness, dm, new_ts, running_slack
from tests.support.fake_slack import FakeSlack


async def test_dm_is_answered_with_streamed_text_sources_and_feedback_buttons(slack: SlackHarness):
    ts = new_ts()
    response = await slack.event(dm("How do I connect to the VPN from home?", ts=ts))
    assert response.status == 200
    await slack.settle()

    [(message_id, stored)] = await slack.answers()
    [message] = slack.fake.thread("D1", ts)
    assert message.body == stored  # what the user reads is what was stored
    assert "VPN" in stored or "vpn" in stored.lower()
    methods = [c.method for c in slack.fake.calls if c.method.startswith("chat.")]
    assert methods[0] == "chat.startStream" and methods[-1] == "chat.stopStream"
    assert "chat.postMessage" not in methods
    sources = [b for b in message.blocks if b["type"] == "section"]
    assert sources and sources[0]["text"]["text"].startswith("*Sources*")
    assert "[1]" in sources[0]["text"]["text"]
    [buttons] = [b for b in message.blocks if b["type"] == "context_actions"]
    element = buttons["elements"][0]
    assert element["type"] == "feedback_buttons"
    assert element["positive_button"]["value"] == f"up:{message_id}"
    # The DM showed "is thinking…" while the answer was being prepared.
    assert slack.fake.statuses and slack.fake.statuses[0]["status"] == "is thinking…"


async def test_same_event_delivered_three_times_gets_one_answer(slack: SlackHarness):
    ts = new_ts()
    event = dm("How many days of annual leave do I get?", ts=ts)
    # Slack retries while the first delivery is still being handled, with retry headers.
    responses = await asyncio.gather(
        slack.event(event, event_id="EvSAME"),
        slack.event(event, event_id="EvSAME", retry_num=1),
        slack.event(event, event_id="EvSAME", retry_num=2),
    )
    assert [r.status for r in responses] == [200, 200, 200]
    await slack.settle()
    assert len(await slack.answers()) == 1
    assert len(slack.fake.thread("D1", ts)) == 1
    assert len(slack.fake.calls_to("chat.startStream")) == 1


async def test_retry_whose_first_delivery_never_arrived_is_answered(slack: SlackHarness):
    ts = new_ts()
    response = await slack.event(dm("How do I reset my password?", ts=ts), retry_num=1)
    assert response.status == 200
    await slack.settle()
    assert len(slack.fake.thread("D1", ts)) == 1


async def test_forged_signature_and_stale_timestamp_get_401_and_no_answer(slack: SlackHarness):
    forged = await slack.event(dm("How do I reset my password?"), secret="not-the-secret")
    stale = await slack.event(
        dm("How do I reset my password?"), timestamp=int(time.time()) - 6 * 60
    )
    assert (forged.status, stale.status) == (401, 401)
    await slack.settle()
    assert await slack.answers() == []
    assert slack.fake.calls_to("chat.startStream") == []


async def test_url_verification_is_answered_with_the_challenge(slack: SlackHarness):
    response = await slack.post_json(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    assert response.status == 200
    assert (await response.json())["challenge"].startswith("3eZbrw1a")


async def test_channel_mention_is_answered_in_a_thread_and_follow_ups_need_no_mention(
    slack: SlackHarness,
):
    root = new_ts()
    mention = {
        "type": "app_mention",
        "channel": "C1",
        "user": "U2",
        "ts": root,
        "text": f"<@{BOT_USER}> how do I reset my password?",
    }
    await slack.event(mention)
    # Slack also delivers the same message as message.channels; it must not be answered twice.
    await slack.event({**mention, "type": "message", "channel_type": "channel"})
    await slack.settle()
    assert len(slack.fake.thread("C1", root)) == 1
    [start] = slack.fake.calls_to("chat.startStream")
    assert start.args["thread_ts"] == root
    assert (start.args["recipient_user_id"], start.args["recipient_team_id"]) == ("U2", TEAM)

    follow_up = {
        "type": "message",
        "channel_type": "channel",
        "channel": "C1",
        "user": "U2",
        "ts": new_ts(),
        "thread_ts": root,
        "text": "and what if I am locked out?",
    }
    await slack.event(follow_up)
    # A reply in somebody else's thread, and a plain channel message, are not for the bot.
    await slack.event({**follow_up, "ts": new_ts(), "thread_ts": new_ts()})
    await slack.event(
        {
            "type": "message",
            "channel_type": "channel",
            "channel": "C1",
            "user": "U3",
            "ts": new_ts(),
            "text": "how do I reset my password?",
        }
    )
    await slack.settle()
    assert len(slack.fake.thread("C1", root)) == 2
    assert len(await slack.answers()) == 2
    async with slack.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*), min(kind) FROM conversations")
        assert await cur.fetchone() == (1, "channel")  # one thread, one conversation


async def test_own_messages_edits_and_other_bots_are_ignored(slack: SlackHarness):
    await slack.event(dm("How do I reset my password?", user=BOT_USER))
    await slack.event(dm("How do I reset my password?", bot_id="B999", subtype="bot_message"))
    await slack.event(dm("How do I reset my password?", subtype="message_changed"))
    await slack.event({**dm("x"), "subtype": "message_deleted"})
    await slack.settle()
    assert await slack.answers() == []
    assert slack.fake.calls_to("chat.startStream") == []


async def test_agent_pane_gets_prompts_status_and_a_thread_title(slack: SlackHarness):
    await slack.event(
        {
            "type": "app_home_opened",
            "user": "U1",
            "channel": "D1",
            "tab": "messages",
            "event_ts": new_ts(),
        }
    )
    await slack.settle()
    [prompts] = slack.fake.suggested_prompts
    assert "thread_ts" not in prompts  # agent-view apps must not send it
    assert 1 <= len(prompts["prompts"]) <= 4

    root = new_ts()
    await slack.event(dm("Who approves my travel expenses?", thread_ts=root))
    await slack.settle()
    assert len(slack.fake.thread("D1", root)) == 1
    [title] = slack.fake.titles
    assert title["thread_ts"] == root and title["title"].startswith("Who approves")
    assert any(
        s["thread_ts"] == root and s["status"] == "is thinking…" for s in slack.fake.statuses
    )
    async with slack.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT kind FROM conversations")
        assert await cur.fetchone() == ("assistant",)


async def test_two_replicas_sharing_redis_answer_a_redelivered_event_once(
    settings: Settings, redis_url: str
):
    fake = FakeSlack()
    ts = new_ts()
    event = dm("How do I report a phishing email?", ts=ts)
    async with (
        running_slack(settings, fake, redis_url=SecretStr(redis_url)) as replica_a,
        running_slack(settings, fake, load=False, redis_url=SecretStr(redis_url)) as replica_b,
    ):
        # Slack's first delivery lands on one replica, its retry on the other.
        await asyncio.gather(
            replica_a.event(event, event_id="EvREPLICA"),
            replica_b.event(event, event_id="EvREPLICA", retry_num=1),
            replica_b.event(event, event_id="EvREPLICA", retry_num=2),
        )
        await replica_a.settle()
        await replica_b.settle()
        assert len(await replica_a.answers()) == 1
    assert len(fake.thread("D1", ts)) == 1


async def test_one_message_under_two_event_ids_gets_one_answer(slack: SlackHarness):
    # Slack delivers a message twice, with different event ids, when it reaches the app through
    # two subscriptions or an Enterprise Grid org delivers it to two installations.
    ts = new_ts()
    event = dm("How many days of annual leave do I get?", ts=ts)
    await slack.event(event, event_id="EvFIRST")
    await slack.settle()
    await asyncio.sleep(1)  # later, after the first answer was written
    await slack.event(event, event_id="EvSECOND")
    await slack.settle()

    assert len(await slack.answers()) == 1
    assert len(slack.fake.thread("D1", ts)) == 1
    # A different message in the same DM is still answered.
    other = new_ts()
    await slack.event(dm("How do I reset my password?", ts=other), event_id="EvTHIRD")
    await slack.settle()
    assert len(slack.fake.thread("D1", other)) == 1


async def test_two_replicas_answer_one_message_under_two_event_ids_once(
    settings: Settings, redis_url: str
):
    fake = FakeSlack()
    ts = new_ts()
    event = dm("How do I report a phishing email?", ts=ts)
    async with (
        running_slack(settings, fake, redis_url=SecretStr(redis_url)) as replica_a,
        running_slack(settings, fake, load=False, redis_url=SecretStr(redis_url)) as replica_b,
    ):
        await asyncio.gather(
            replica_a.event(event, event_id="EvSUB1"),
            replica_b.event(event, event_id="EvSUB2"),
        )
        await replica_a.settle()
        await replica_b.settle()
        assert len(await replica_a.answers()) == 1
    assert len(fake.thread("D1", ts)) == 1


async def test_other_bots_are_answered_when_configured(settings: Settings):
    async with running_slack(settings, FakeSlack(), slack_answer_bots=True) as slack:
        ts = new_ts()
        await slack.event(dm("How do I reset my password?", ts=ts, bot_id="B999"))
        await slack.event(dm("How do I reset my password?", user=BOT_USER))  # never our own
        await slack.settle()
        assert len(slack.fake.thread("D1", ts)) == 1
        assert len(await slack.answers()) == 1
