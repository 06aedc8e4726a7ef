"""A Teams personal chat is one conversation for ever: a question that stands on its own still
gets the verified answer there, however many came before it, and a real follow-up ("and on my
phone?") is still read with the question before it."""

from __future__ import annotations

from tests.bots.teams.conftest import BotFactory, BotServer
from tests.support.conversations import rows
from tests.support.fake_connector import Message

BOB = {"user": "29:bob", "aad": "aad-bob", "user_name": "Bob"}  # the admin
ANSWER = "Yes, on Fridays, if your team agrees. Keep it on a lead in shared areas."


async def say(bot: BotServer, text: str, **who: str) -> list[Message]:
    activity = bot.connector.activity(text, **who)
    conversation = activity["conversation"]["id"]
    before = len(bot.connector.visible(conversation))
    status, _ = await bot.post(activity)
    assert status in (200, 201, 202)
    await bot.settle()
    return bot.connector.visible(conversation)[before:]


async def last_status(bot: BotServer) -> str:
    [(status,)] = await rows(
        bot.runtime.db.pool,
        "SELECT status FROM messages WHERE role = 'assistant' ORDER BY id DESC LIMIT 1",
    )
    return str(status)


def said(replies: list[Message]) -> str:
    return "\n".join(m.text for m in replies)


async def test_a_later_question_in_a_personal_chat_gets_the_verified_answer(
    make_bot: BotFactory,
):
    bot = await make_bot(admins=("aad-bob",))
    [saved] = await say(bot, f"answers add Can I bring my dog to the office? :: {ANSWER}", **BOB)
    assert "saved" in saved.text

    await say(bot, "How do I connect to the VPN from home?")
    assert await last_status(bot) == "complete"
    # The same personal chat, a question on its own: the verified answer, as written.
    replies = await say(bot, "Am I allowed to bring my dog to the office?")
    assert await last_status(bot) == "verified"
    assert ANSWER in said(replies) and "Verified answer" in said(replies)

    # A follow-up leans on the question before it, which the verified question never saw.
    await say(bot, "And can I bring my dog to the office?")
    assert await last_status(bot) != "verified"

    [(conversations,)] = await rows(
        bot.runtime.db.pool,
        "SELECT count(DISTINCT conversation_id) FROM messages "
        "JOIN users u ON u.id = messages.user_id WHERE u.platform_user_id = 'aad-alice'",
    )
    assert conversations == 1  # all in one chat


async def test_a_follow_up_in_a_personal_chat_is_read_with_the_question_before_it(
    bot: BotServer,
):
    await say(bot, "How do I connect to the VPN from home?")
    replies = await say(bot, "and on my phone?")
    assert await last_status(bot) == "complete"
    assert "VPN" in said(replies)


async def test_a_short_question_on_its_own_is_answered_as_in_a_new_chat(bot: BotServer):
    fresh = await say(bot, "How do I reset my password?", user="29:carol", aad="aad-carol")
    await say(bot, "How do I connect to the VPN from home?")
    in_chat = await say(bot, "How do I reset my password?")
    assert said(in_chat) == said(fresh)


async def test_after_a_quiet_gap_the_chat_starts_afresh_unless_it_is_a_follow_up(
    make_bot: BotFactory, model
):
    fake, overrides = model
    fake.behaviour.token_interval_s = 0.0
    fake.default_reply = "Use the portal and follow the steps [1]."
    bot = await make_bot(**overrides)

    def seen_by_the_model() -> str:
        return str(fake.bodies("chat")[-1]["messages"])

    await say(bot, "How do I connect to the VPN from home?")
    await say(bot, "How many days of annual leave do I get?")
    assert "connect to the VPN" in seen_by_the_model()  # minutes apart: one conversation

    await rows(
        bot.runtime.db.pool,
        "UPDATE messages SET created_at = created_at - interval '2 hours' RETURNING id",
    )
    await say(bot, "What should I do after resetting my password?")
    assert "annual leave" not in seen_by_the_model()  # two hours later: afresh
    await say(bot, "and if I am locked out?")
    assert "after resetting my password" in seen_by_the_model()  # a follow-up keeps it
