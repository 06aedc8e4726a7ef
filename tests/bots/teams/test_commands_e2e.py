"""History, privacy and admin commands typed in a Teams personal chat, end to end: activities
signed with test keys into the real server, replies read from what the fake Bot Connector
received, buttons pressed as Teams sends them (messageBack), and the database behind them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.bots.teams.conftest import TENANT, BotServer
from tests.support.conversations import (
    ANSWER_AFTER,
    Someone,
    Turn,
    expected_group,
    rate,
    rows,
    seed_conversation,
    someone,
)
from tests.support.fake_connector import Message

GROUPS = ("Today", "Yesterday", "Last 7 days", "Last 30 days", "Older")
# The fake connector's clientInfo says where the person is; "Today" is their today.
BERLIN = ZoneInfo("Europe/Berlin")
PEOPLE = {"alice": ("29:alice", "aad-alice", "Alice Example"), "bob": ("29:bob", "aad-bob", "Bob")}


async def person(bot: BotServer, name: str) -> Someone:
    _, aad, display = PEOPLE[name]
    return await someone(bot.runtime, aad, name=display, platform="teams", workspace=TENANT)


async def say(bot: BotServer, name: str, text: str) -> Message:
    """``name`` types ``text`` in their personal chat with the bot (or presses a button that
    sends it: a messageBack arrives as the same message); the bot's one reply."""
    user, aad, display = PEOPLE[name]
    activity = bot.connector.activity(text, user=user, aad=aad, user_name=display)
    conversation = activity["conversation"]["id"]
    before = len(bot.connector.visible(conversation))
    status, _ = await bot.post(activity)
    assert status in (200, 201, 202)
    await bot.settle()
    replies = bot.connector.visible(conversation)[before:]
    assert len(replies) == 1, [r.text for r in replies]
    assert not bot.connector.streams  # a command is answered at once, never streamed
    return replies[0]


def card(reply: Message) -> dict[str, Any]:
    attachments = reply.activity.get("attachments") or []
    return attachments[0]["content"] if attachments else {}


def buttons(reply: Message) -> dict[str, str]:
    """Button title → the text its messageBack sends."""
    return {a["title"]: a["data"]["msteams"]["text"] for a in card(reply).get("actions") or []}


_QUESTION = re.compile(r"Question (\d\d)")


def listed(reply: Message) -> list[tuple[str, str]]:
    """(heading, question number) for each history row, in the order shown."""
    found, heading = [], ""
    for line in reply.text.splitlines():
        line = line.strip()
        if line.strip("*") in GROUPS:
            heading = line.strip("*")
        elif line.startswith("- ") and (match := _QUESTION.search(line)):
            found.append((heading, match.group(1)))
    return found


async def test_history_in_personal_chat_groups_by_the_persons_day_and_pages_with_more(
    bot: BotServer,
):
    alice = await person(bot, "alice")
    now = datetime.now(UTC)
    seeded: dict[str, datetime] = {}
    for n in range(60):
        at = now - timedelta(minutes=5) - timedelta(hours=n * n * 0.62)
        await seed_conversation(
            bot.runtime.db.pool,
            [Turn(alice, f"Question {n:02d} about <at>Bob</at> and the VPN", at)],
            thread=f"t{n}",
        )
        seeded[f"{n:02d}"] = at

    pages = [await say(bot, "alice", "history")]
    while "More" in buttons(pages[-1]):
        assert len(pages) < 10, "More never ran out"
        pages.append(await say(bot, "alice", buttons(pages[-1])["More"]))

    assert len(pages) == 6 and all(len(listed(page)) == 10 for page in pages)
    shown = [row for page in pages for row in listed(page)]
    assert [number for _, number in shown] == sorted(seeded, key=lambda n: seeded[n], reverse=True)
    for heading, number in shown:
        # A conversation is as old as its last message, the answer (which matters only when
        # midnight falls between the two).
        assert heading == expected_group(seeded[number] + ANSWER_AFTER, now, BERLIN), number
    assert {heading for heading, _ in shown} == set(GROUPS)
    # A title someone typed cannot mention anyone.
    assert all("<at>" not in page.text and not page.entity("mention") for page in pages)


async def test_a_person_never_sees_or_finds_someone_elses_conversations(bot: BotServer):
    pool = bot.runtime.db.pool
    alice, bob = await person(bot, "alice"), await person(bot, "bob")
    now = datetime.now(UTC) - timedelta(minutes=5)
    await seed_conversation(pool, [Turn(alice, "How do I reset my VPN token?", now)], thread="a1")
    await seed_conversation(pool, [Turn(bob, "Secret zebra project VPN budget", now)], thread="b1")

    mine = (await say(bot, "alice", "history")).text
    assert "reset my VPN token" in mine and "zebra" not in mine
    searched = (await say(bot, "alice", "history zebra")).text
    assert "Nothing in your conversations matches" in searched and "Secret" not in searched
    vpn = (await say(bot, "alice", "history vpn")).text
    assert "reset my VPN token" in vpn and "zebra" not in vpn
    theirs = (await say(bot, "bob", "history zebra")).text
    assert "Secret **zebra** project" in theirs and "reset my VPN" not in theirs


async def test_non_admin_stats_is_refused_and_the_attempt_audited(bot: BotServer):
    reply = await say(bot, "alice", "stats 30d")
    assert "admins only" in reply.text and not card(reply).get("body")
    assert await rows(
        bot.runtime.db.pool, "SELECT actor, action, outcome FROM audit_log ORDER BY id"
    ) == [(f"teams:{TENANT}:aad-alice", "stats", "refused")]


async def test_forget_me_removes_everything_of_that_person_and_nothing_of_anyone_else(
    bot: BotServer,
):
    pool = bot.runtime.db.pool
    alice, bob = await person(bot, "alice"), await person(bot, "bob")
    now = datetime.now(UTC) - timedelta(minutes=5)
    hers = await seed_conversation(pool, [Turn(alice, "My VPN token is broken", now)], thread="a")
    his = await seed_conversation(pool, [Turn(bob, "Zebra budget", now)], thread="b")
    await rate(pool, hers.answer_ids[0], alice, -1, at=now, comment="too vague")
    await rate(pool, his.answer_ids[0], bob, 1, at=now)
    before = await rows(
        pool,
        "SELECT id, text FROM messages WHERE conversation_id = %s ORDER BY id",
        his.conversation_id,
    )

    asked = await say(bot, "alice", "forget-me")
    assert "Delete everything" in asked.text
    confirm = buttons(asked)["Yes, delete my data"]
    assert await rows(pool, "SELECT count(*) FROM messages") == [(4,)]  # not before she confirms

    done = await say(bot, "alice", confirm)
    assert "forgotten you" in done.text
    assert await rows(
        pool, "SELECT count(*) FROM messages WHERE conversation_id = %s", hers.conversation_id
    ) == [(0,)]
    assert await rows(pool, "SELECT count(*) FROM conversations WHERE user_id = %s", alice.id) == [
        (0,)
    ]
    assert await rows(pool, "SELECT user_id, rating FROM feedback") == [(bob.id, 1)]
    assert await rows(pool, "SELECT id, text FROM messages ORDER BY id") == before
    assert "No conversations yet" in (await say(bot, "alice", "history")).text
    assert "Zebra budget" in (await say(bot, "bob", "history")).text
    audited = await rows(
        pool, "SELECT actor, outcome, details FROM audit_log WHERE action = 'forget-me'"
    )
    assert audited[-1][:2] == (f"teams:{TENANT}:aad-alice", "ok")
    logged = json.dumps([details for _, _, details in audited])
    assert "VPN" not in logged and "too vague" not in logged


async def test_export_is_offered_by_file_consent_and_uploaded_to_onedrive_on_accept(
    bot: BotServer,
):
    pool = bot.runtime.db.pool
    alice, bob = await person(bot, "alice"), await person(bot, "bob")
    now = datetime.now(UTC) - timedelta(minutes=5)
    hers = await seed_conversation(pool, [Turn(alice, "My VPN token is broken", now)], thread="a")
    await seed_conversation(pool, [Turn(bob, "Zebra budget", now)], thread="b")
    await rate(pool, hers.answer_ids[0], alice, 1, at=now)

    offer = await say(bot, "alice", "export")
    [consent] = offer.activity["attachments"]
    assert consent["contentType"] == "application/vnd.microsoft.teams.card.file.consent"
    assert consent["name"].endswith(".json") and "OneDrive" in offer.text

    # Someone else pressing the card gets nothing of hers.
    status, _ = await bot.post(bot.connector.file_consent(offer, user="29:bob", aad="aad-bob"))
    await bot.settle()
    assert status == 200 and not bot.connector.files

    status, _ = await bot.post(bot.connector.file_consent(offer))
    assert status == 200
    await bot.settle()
    [(unique_id, content)] = bot.connector.files.items()
    data = json.loads(content)
    exported = {m["id"] for c in data["conversations"] for m in c["messages"]}
    assert exported == set(hers.question_ids + hers.answer_ids)
    assert data["user"]["user_id"] == "aad-alice" and "Zebra" not in content.decode()
    assert [f["rating"] for f in data["feedback"]] == [1]

    shown = bot.connector.visible(offer.conversation_id)[-1]
    [info] = shown.activity["attachments"]
    assert info["contentType"] == "application/vnd.microsoft.teams.card.file.info"
    assert info["content"]["uniqueId"] == unique_id and info["name"] == consent["name"]


async def test_export_whose_upload_fails_says_so_offers_to_try_again_and_is_audited_failed(
    bot: BotServer,
):
    await person(bot, "alice")
    offer = await say(bot, "alice", "export")
    bot.connector.onedrive_down = True

    status, _ = await bot.post(bot.connector.file_consent(offer))
    await bot.settle()

    assert status == 200 and not bot.connector.files
    told = bot.connector.visible(offer.conversation_id)[-1]
    assert "the file did not arrive" in told.text and "Nothing was lost" in told.text
    assert "Try again" in json.dumps(told.activity.get("attachments") or [])
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT action, outcome FROM audit_log ORDER BY id")
        assert await cur.fetchall() == [("export", "ok"), ("export", "failed")]


async def test_declining_the_export_file_uploads_nothing(bot: BotServer):
    await person(bot, "alice")
    offer = await say(bot, "alice", "export")
    status, _ = await bot.post(bot.connector.file_consent(offer, action="decline"))
    await bot.settle()
    assert status == 200 and not bot.connector.files
    assert "won't save" in bot.connector.visible(offer.conversation_id)[-1].text
