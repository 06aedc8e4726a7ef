"""forget-me in Teams leaves nothing of the person in any table: not the questions and answers
alone, but also the conversation references kept for proactive messages, the inbox payloads of
what they sent, their limit refusals and this week's prompts quoting them.

The check (tests/support/everywhere.py) reads every table the migrations made, so a table added
later is checked too, and lists the only places that keep something on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from store.prompts import PromptStore, SuggestedPrompt, week_of
from tests.bots.teams.conftest import BotFactory, BotServer
from tests.support.conversations import rows
from tests.support.everywhere import assert_forgotten, tables_mentioning
from tests.support.fake_connector import GROUP_CHAT, PERSONAL, Message

# Distinctive ids and names, so finding them anywhere in a row means it is theirs.
ALICE = {"user": "29:alice-f0rget", "aad": "aad-alice-f0rget", "user_name": "Alice Forgetme"}
BOB = {"user": "29:bob-k33p", "aad": "aad-bob-k33p", "user_name": "Bob Keeper"}
ALICE_QUESTIONS = (
    "How do I connect to the VPN from home?",
    "How many days of annual leave do I get?",
)
REFUSED = "When is payday, please?"
BOB_QUESTIONS = ("How do I reset my password?", "What is the travel expense policy?")


async def post(bot: BotServer, text: str, who: dict[str, str], *, kind: str = PERSONAL) -> None:
    status, _ = await bot.post(bot.connector.activity(text, kind=kind, **who))
    assert status in (200, 201, 202)
    await bot.settle()


def latest(bot: BotServer, who: dict[str, str]) -> Message:
    return bot.connector.visible(f"a:personal-{who['user']}")[-1]


async def test_forget_me_leaves_nothing_of_the_person_in_any_table(make_bot: BotFactory):
    # Two questions at once, then one a minute: Alice's third question is refused.
    bot = await make_bot(rate_limit_burst=2, rate_limit_per_minute=1)
    pool = bot.runtime.db.pool
    await post(bot, BOB_QUESTIONS[0], BOB)
    await post(bot, BOB_QUESTIONS[1], BOB, kind=GROUP_CHAT)
    # Alice speaks last in the group chat: its stored reference names her.
    await post(bot, ALICE_QUESTIONS[1], ALICE, kind=GROUP_CHAT)
    await post(bot, ALICE_QUESTIONS[0], ALICE)
    answer = latest(bot, ALICE)
    feedback = bot.connector.feedback(answer, "dislike", "Alice Forgetme wanted more")
    feedback["from"] = {
        "id": ALICE["user"],
        "name": ALICE["user_name"],
        "aadObjectId": ALICE["aad"],
    }
    assert (await bot.post(feedback))[0] == 200
    await post(bot, REFUSED, ALICE)
    assert "asking fast" in latest(bot, ALICE).text
    # This week's prompts quote her question (the weekly job picks real questions).
    await PromptStore(pool, defaults=()).replace_week(
        week_of(datetime.now(UTC)),
        [SuggestedPrompt(ALICE_QUESTIONS[0], "it"), SuggestedPrompt("How do I file expenses?")],
    )
    [(alice_id,)] = await rows(
        pool, "SELECT id FROM users WHERE platform_user_id = %s", ALICE["aad"]
    )
    before = await tables_mentioning(pool, "alice-f0rget")
    assert {"teams_conversations", "inbox", "limit_hits", "users"} <= before  # the scan sees

    await post(bot, "forget-me", ALICE)
    confirm: dict[str, Any] = latest(bot, ALICE).activity["attachments"][0]["content"]
    [button] = [a for a in confirm["actions"] if a["title"] == "Yes, delete my data"]
    await post(bot, button["data"]["msteams"]["text"], ALICE)
    assert "forgotten you" in latest(bot, ALICE).text

    needles = ["alice-f0rget", ALICE["user_name"], *ALICE_QUESTIONS, REFUSED]
    await assert_forgotten(pool, alice_id, needles)
    # Everyone else's is all still there: Bob's chats, questions, and the group chat, which
    # the bot can still post to.
    assert {"teams_conversations", "inbox", "users"} <= await tables_mentioning(pool, "bob-k33p")
    for question in BOB_QUESTIONS:
        assert "messages" in await tables_mentioning(pool, question)
    assert await rows(
        pool,
        "SELECT conversation_type FROM teams_conversations ORDER BY conversation_type",
    ) == [("groupChat",), ("personal",)]
    assert await rows(pool, "SELECT text FROM suggested_prompts") == [("How do I file expenses?",)]
