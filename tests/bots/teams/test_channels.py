"""Group chats and channels: Teams does not stream there, so the reply is posted once and edited."""

from __future__ import annotations

import json

import pytest

from tests.bots.teams.conftest import BotFactory, BotServer
from tests.support.fake_connector import CHANNEL, GROUP_CHAT

QUESTION = "How do I connect to the VPN from home?"
ANSWER = (
    "Open the GlobalProtect client and sign in with your company account and MFA [1]. "
    "If it will not connect, check your home internet, then restart the client [1]."
)


@pytest.fixture
async def writing_bot(make_bot: BotFactory, model) -> BotServer:
    fake, overrides = model
    fake.default_reply = ANSWER
    return await make_bot(**overrides)


async def test_channel_mention_gets_an_edited_reply_in_the_thread(writing_bot: BotServer):
    bot, connector = writing_bot, writing_bot.connector
    activity = connector.activity(QUESTION, kind=CHANNEL)
    status, _ = await bot.post(activity)
    assert status == 200
    await bot.settle()

    thread = activity["conversation"]["id"]
    assert ";messageid=" in thread
    # Nothing was streamed (Teams would answer 405) and nothing was refused.
    assert not [r for r in connector.requests if r.stream_info is not None]
    assert [r.status for r in connector.requests if r.status >= 400] == []

    # One message, posted as a reply to the question in its thread, then edited as it grew.
    [reply] = connector.visible(thread)
    assert reply.reply_to == activity["id"]
    assert reply.edits >= 2
    assert reply.text == ANSWER
    message = reply.entity("https://schema.org/Message")
    assert message is not None and message["additionalType"] == ["AIGeneratedContent"]
    assert [c["position"] for c in message["citation"]] == [1]
    assert reply.activity["channelData"]["feedbackLoop"] == {"type": "default"}
    edits = [r for r in connector.requests if r.method == "PUT"]
    # Every edit showed something new: more text, or (the last) the citations and feedback.
    shown = {(r.body["text"], json.dumps(r.body.get("entities"), sort_keys=True)) for r in edits}
    assert len(shown) == len(edits)

    # The bot's mention is not part of the question; the thread is one conversation.
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT c.kind, c.channel_id, c.thread_id, m.text FROM messages m
               JOIN conversations c ON c.id = m.conversation_id WHERE m.role = 'user'"""
        )
        rows = await cur.fetchall()
    assert rows == [("channel", thread.split(";")[0], activity["id"], QUESTION)]


async def test_group_chat_reply_is_edited_not_streamed(bot: BotServer):
    activity = bot.connector.activity(QUESTION, kind=GROUP_CHAT)
    status, _ = await bot.post(activity)
    assert status == 200
    await bot.settle()
    conversation = activity["conversation"]["id"]
    [reply] = bot.connector.visible(conversation)
    assert "vpn" in reply.text.lower()
    assert reply.entity("https://schema.org/Message") is not None
    assert not bot.connector.statuses(405)
    assert not [r for r in bot.connector.requests if r.stream_info is not None]


async def test_refused_edits_are_retried_and_the_answer_still_arrives(writing_bot: BotServer):
    bot, connector = writing_bot, writing_bot.connector
    activity = connector.activity(QUESTION, kind=GROUP_CHAT)
    # The first post goes through; the edits meet throttling, a crossed edit and a bad gateway.
    connector.fail_next(429)
    await bot.post(activity)
    connector.fail_next(412)
    connector.fail_next(502)
    connector.fail_next(504)
    await bot.settle()
    [reply] = connector.visible(activity["conversation"]["id"])
    assert reply.text == ANSWER
    assert reply.entity("https://schema.org/Message") is not None
    refused = sorted(r.status for r in connector.requests if r.status >= 400)
    assert refused == [412, 429, 502, 504]


async def test_where_teams_refuses_to_stream_the_answer_is_posted_instead(bot: BotServer):
    # A group chat whose activity does not say what kind of conversation it is: the bot tries
    # to stream, Teams answers 405, and the answer arrives as an ordinary message.
    activity = bot.connector.activity(QUESTION, kind=GROUP_CHAT)
    del activity["conversation"]["conversationType"]
    await bot.post(activity)
    await bot.settle()
    assert len(bot.connector.statuses(405)) == 1
    [reply] = bot.connector.visible(activity["conversation"]["id"])
    assert reply.entity("streaminfo") is None
    assert "vpn" in reply.text.lower()
    assert reply.activity["channelData"]["feedbackLoop"] == {"type": "default"}
