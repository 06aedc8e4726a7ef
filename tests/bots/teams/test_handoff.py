""" "Talk to a person" on Teams: a card under each answer; pressing it posts to the help
channel (a real mention) and the ticketing webhook, once per answer and person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from tests.bots.teams.conftest import BotFactory, BotServer
from tests.support.conversations import rows
from tests.support.fake_connector import CHANNEL, Message
from tests.support.fake_webhook import FakeWebhook

HELP = "19:help-desk@thread.tacv2"
SECRET = "teams-handoff-secret"


@pytest.fixture
async def hook() -> AsyncIterator[tuple[FakeWebhook, str]]:
    fake = FakeWebhook(SECRET, failures=1)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/tickets"))
    await server.close()


def handoff_data(message: Message) -> dict[str, Any] | None:
    for attachment in message.activity.get("attachments") or ():
        for action in (attachment.get("content") or {}).get("actions") or ():
            data = action.get("data") or {}
            if data.get("switchboard") == "handoff":
                assert action["title"] == "Talk to a person"
                return data
    return None


async def install_in_help_channel(bot: BotServer) -> None:
    added = bot.connector.bot_added(kind=CHANNEL)
    added["conversation"]["id"] = HELP
    bot.connector.kinds[HELP] = CHANNEL
    status, _ = await bot.post(added)
    assert status in (200, 201)
    await bot.settle()


async def ask(bot: BotServer, text: str) -> tuple[str, list[Message]]:
    activity = bot.connector.activity(text)
    conversation = activity["conversation"]["id"]
    before = len(bot.connector.visible(conversation))
    await bot.post(activity)
    await bot.settle()
    return conversation, bot.connector.visible(conversation)[before:]


async def press(bot: BotServer, conversation: str, card: Message, data: dict, **who: Any) -> str:
    activity = bot.connector.activity("", conversation=conversation, mention_bot=False, **who)
    activity.update({"replyToId": card.id, "value": data})
    activity["text"] = ""
    before = len(bot.connector.visible(conversation))
    status, _ = await bot.post(activity)
    assert status in (200, 201, 202)
    await bot.settle()
    [told] = bot.connector.visible(conversation)[before:]
    return told.text


async def test_handoff_reaches_the_teams_channel_and_webhook_once_per_press(
    make_bot: BotFactory, hook: tuple[FakeWebhook, str]
):
    fake, url = hook
    bot = await make_bot(
        teams_handoff_channel=HELP,
        handoff_webhook=url,
        handoff_webhook_secret=SecretStr(SECRET),
    )
    await install_in_help_channel(bot)
    conversation, replies = await ask(bot, "How do I reset my password?")
    cards = [(m, d) for m in replies if (d := handoff_data(m)) is not None]
    assert len(cards) == 1
    card, data = cards[0]
    # The card is a message of its own, never part of the streamed answer.
    assert not any(e.get("type") == "streaminfo" for e in card.activity.get("entities") or ())

    told = await press(bot, conversation, card, data)
    assert "Teams channel" in told and "ticket system" in told

    [post] = [m for m in bot.connector.visible(HELP) if "would like a person" in m.text]
    assert "<at>Alice Example</at>" in post.text
    assert "How do I reset my password?" in post.text
    mention = post.entity("mention")
    assert mention is not None and mention["mentioned"]["id"] == "aad-alice"

    assert [d.status for d in fake.received] == [503, 200]  # retried once
    assert fake.accepted[0].body["person"]["platform"] == "teams"
    assert fake.accepted[0].body["message_id"] == data["message_id"]
    assert fake.accepted[0].body["person"]["email"]  # from the member record
    assert fake.accepted[0].body["thread"]["link"] is None  # a personal chat: nobody else's

    again = await press(bot, conversation, card, data)
    assert "already sent" in again
    assert len([m for m in bot.connector.visible(HELP) if "would like a person" in m.text]) == 1
    assert len(fake.accepted) == 1
    # Where it arrived: the channel at once, the webhook once delivered.
    assert await destinations(bot) == ["channel+webhook"]


async def destinations(bot: BotServer) -> list[str]:
    found = await rows(bot.runtime.db.pool, "SELECT destination FROM handoffs ORDER BY id")
    return [str(d) for (d,) in found]


def press_activity(
    bot: BotServer, conversation: str, card: Message, data: dict, **who: Any
) -> dict[str, Any]:
    activity = bot.connector.activity("", conversation=conversation, mention_bot=False, **who)
    activity.update({"replyToId": card.id, "value": data, "text": ""})
    return activity


async def test_a_press_delivered_again_by_teams_is_acted_on_once(make_bot: BotFactory):
    bot = await make_bot(teams_handoff_channel=HELP)
    await install_in_help_channel(bot)
    conversation, replies = await ask(bot, "How do I reset my password?")
    [(card, data)] = [(m, d) for m in replies if (d := handoff_data(m)) is not None]
    activity = press_activity(bot, conversation, card, data)
    for _ in range(2):  # the same activity twice: our ack was late
        await bot.post(activity)
        await bot.settle()
    told = [m.text for m in bot.connector.visible(conversation) if "my answer" in m.text]
    assert len(told) == 1 and "already" not in told[0]
    assert len([m for m in bot.connector.visible(HELP) if "would like a person" in m.text]) == 1


async def test_a_press_in_a_channel_thread_links_the_help_post_and_ticket_to_the_thread(
    make_bot: BotFactory, hook: tuple[FakeWebhook, str]
):
    fake, url = hook
    bot = await make_bot(
        teams_handoff_channel=HELP, handoff_webhook=url, handoff_webhook_secret=SecretStr(SECRET)
    )
    await install_in_help_channel(bot)
    question = bot.connector.activity("How do I reset my password?", kind=CHANNEL)
    question["channelData"]["team"]["aadGroupId"] = "group-1"
    thread = question["conversation"]["id"]
    await bot.post(question)
    await bot.settle()
    [(card, data)] = [
        (m, d) for m in bot.connector.visible(thread) if (d := handoff_data(m)) is not None
    ]
    activity = bot.connector.activity("", kind=CHANNEL, conversation=thread, mention_bot=False)
    activity["channelData"]["team"]["aadGroupId"] = "group-1"
    activity.update({"replyToId": card.id, "value": data, "text": ""})
    await bot.post(activity)
    await bot.settle()

    link = (
        f"https://teams.microsoft.com/l/message/19%3Ageneral%40thread.tacv2/{card.id}"
        f"?tenantId=tenant-1&parentMessageId={question['id']}&groupId=group-1"
    )
    [post] = [m for m in bot.connector.visible(HELP) if "would like a person" in m.text]
    assert f"[Open the conversation]({link})" in post.text
    assert fake.accepted[0].body["thread"]["link"] == link


async def test_when_nothing_arrives_the_person_is_told_and_may_press_again(make_bot: BotFactory):
    refusing = FakeWebhook("the-receivers-secret")  # our signature is refused: 401
    server = TestServer(refusing.app(), host="127.0.0.1")
    await server.start_server()
    try:
        # The help channel is set, but the app was never added to it.
        bot = await make_bot(
            teams_handoff_channel=HELP,
            handoff_webhook=str(server.make_url("/tickets")),
            handoff_webhook_secret=SecretStr(SECRET),
        )
        conversation, replies = await ask(bot, "How do I reset my password?")
        [(card, data)] = [(m, d) for m in replies if (d := handoff_data(m)) is not None]
        before = len(bot.connector.visible(conversation))
        await bot.post(press_activity(bot, conversation, card, data))
        await bot.settle()
        told = [m.text for m in bot.connector.visible(conversation)[before:]]
        assert "ticket system" in told[0] and "help desk's Teams channel" not in told[0]
        assert "was not passed on" in told[-1] and "again" in told[-1]
        assert await destinations(bot) == []
        # Pressed again, it is tried again rather than "already sent".
        before = len(bot.connector.visible(conversation))
        await bot.post(press_activity(bot, conversation, card, data))
        await bot.settle()
        again = [m.text for m in bot.connector.visible(conversation)[before:]]
        assert again and not any("already" in text for text in again)
        assert len(refusing.received) == 2
    finally:
        await server.close()


async def test_a_press_on_an_answer_from_another_chat_is_refused(make_bot: BotFactory):
    bot = await make_bot(teams_handoff_channel=HELP)
    await install_in_help_channel(bot)
    _, replies = await ask(bot, "How do I reset my password?")
    [(card, data)] = [(m, d) for m in replies if (d := handoff_data(m)) is not None]
    # Bob copies Alice's card data into his own chat.
    bob_chat = "a:personal-29:bob"
    told = await press(bot, bob_chat, card, data, user="29:bob", user_name="Bob", aad="aad-bob")
    assert "can't find that answer" in told
    assert not [m for m in bot.connector.visible(HELP) if "would like a person" in m.text]


async def test_with_nothing_configured_no_card_is_offered(bot: BotServer):
    _, replies = await ask(bot, "How do I reset my password?")
    assert replies and all(handoff_data(m) is None for m in replies)
