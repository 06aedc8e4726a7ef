"""Being added to a chat, commands from the command list, and posting without being asked."""

from __future__ import annotations

from datetime import UTC, datetime

from botbuilder.schema import Activity

from core.commands import is_command
from store.prompts import PromptStore, SuggestedPrompt
from tests.bots.teams.conftest import BotServer
from tests.support.fake_connector import CHANNEL, PERSONAL

THIS_WEEK = [
    "How do I book parental leave?",
    "Where do I find my payslip?",
    "How do I get a new laptop?",
]


async def store_prompts(bot: BotServer) -> None:
    await PromptStore(bot.runtime.db.pool).replace_week(
        datetime.now(UTC).date(), [SuggestedPrompt(text) for text in THIS_WEEK]
    )


async def test_installing_the_bot_in_a_personal_chat_greets_with_this_weeks_prompts(bot: BotServer):
    await store_prompts(bot)
    added = bot.connector.bot_added(kind=PERSONAL)
    status, _ = await bot.post(added)
    assert status == 200
    await bot.post(added)  # delivered twice: greeted once
    await bot.settle()

    [welcome] = bot.connector.visible(added["conversation"]["id"])
    actions = welcome.activity["suggestedActions"]["actions"]
    assert [a["value"] for a in actions][:3] == THIS_WEEK
    assert all(a["type"] == "imBack" for a in actions)


async def test_adding_the_bot_to_a_team_greets_with_prompt_buttons_on_a_card(bot: BotServer):
    await store_prompts(bot)
    added = bot.connector.bot_added(kind=CHANNEL)
    await bot.post(added)
    await bot.settle()
    [welcome] = bot.connector.visible(added["conversation"]["id"])
    card = welcome.activity["attachments"][0]["content"]
    assert card["version"] == "1.5"
    assert [a["data"]["msteams"]["text"] for a in card["actions"]][:3] == THIS_WEEK


async def test_command_from_the_command_list_reaches_the_command_handler(bot: BotServer):
    activity = bot.connector.activity("help")
    await bot.post(activity)
    await bot.settle()
    [reply] = bot.connector.visible(activity["conversation"]["id"])
    assert "history" in reply.text and "forget-me" in reply.text
    assert not bot.connector.streams  # a command is not a question: nothing streamed
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM messages")
        assert await cur.fetchone() == (0,)


async def test_admin_command_from_a_non_admin_is_refused_politely(bot: BotServer):
    activity = bot.connector.activity("stats 7d")
    await bot.post(activity)
    await bot.settle()
    [reply] = bot.connector.visible(activity["conversation"]["id"])
    assert "admin" in reply.text.lower()


def test_questions_that_start_like_commands_are_still_questions():
    assert is_command("help")
    assert is_command("history vpn")
    assert is_command("/stats 7d")
    assert is_command("role @Alice admin")
    assert not is_command("history of the company?")
    assert not is_command("help me understand the parental leave policy please")
    assert not is_command("How do I reset my password?")


async def test_stored_conversation_reference_lets_a_job_post_proactively(bot: BotServer):
    activity = bot.connector.activity("How do I reset my password?")
    await bot.post(activity)
    await bot.settle()
    conversation = activity["conversation"]["id"]
    before = len(bot.connector.visible(conversation))

    notifier = bot.teams.notifier
    assert notifier is not None
    message_id = await notifier.post(
        conversation, Activity(type="message", text="Maintenance tonight")
    )
    assert message_id
    assert bot.connector.visible(conversation)[-1].text == "Maintenance tonight"
    assert len(bot.connector.visible(conversation)) == before + 1
    # A new message, not a reply to the old question.
    assert bot.connector.visible(conversation)[-1].reply_to is None

    await store_prompts(bot)
    delivered = await notifier.post_prompts(THIS_WEEK)
    assert delivered == 1
    weekly = bot.connector.visible(conversation)[-1]
    assert [a["value"] for a in weekly.activity["suggestedActions"]["actions"]] == THIS_WEEK
    assert await notifier.post("a:never-seen", Activity(type="message", text="x")) is None
