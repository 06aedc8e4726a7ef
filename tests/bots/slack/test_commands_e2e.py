"""``/assistant`` history, privacy and admin commands end to end: signed slash commands and
button presses into the real server, replies read from what the fake Slack Web API received
(response_url posts, file uploads), and the database rows checked behind them."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bots.settings import AppSettings as Settings
from core.events import ConversationKind
from tests.bots.slack.conftest import TEAM, SlackHarness, running_slack
from tests.support.conversations import (
    ANSWER_AFTER,
    Seeded,
    Someone,
    Turn,
    expected_group,
    rate,
    rows,
    seed_conversation,
    someone,
)
from tests.support.fake_slack import FakeSlack

ADMIN = "UBOSS"
GROUPS = ("Today", "Yesterday", "Last 7 days", "Last 30 days", "Older")
_HEADING = re.compile(r"^\*(" + "|".join(GROUPS) + r")\*$")
_ENTRY = re.compile(r"^• <(https://slack\.com/archives/[^|>]+)\|([^>]+)>")
_keys = count(1)


@pytest.fixture
async def slack(settings: Settings) -> AsyncIterator[SlackHarness]:
    # No knowledge needed: commands only. The admin is configured, as operators do.
    async with running_slack(settings, FakeSlack(), load=False, admins=(ADMIN,)) as harness:
        yield harness


async def person(slack: SlackHarness, user_id: str, **kwargs: Any) -> Someone:
    return await someone(slack.runtime, user_id, platform="slack", workspace=TEAM, **kwargs)


async def slash(
    slack: SlackHarness, who: str, text: str, *, channel: str | None = None
) -> dict[str, Any]:
    """``/assistant text`` typed by ``who`` (in their DM unless ``channel``); the reply the
    adapter posted to the command's response_url."""
    key = f"r{next(_keys)}"
    response = await slack.form(slash_form(slack, who, text, key, channel=channel))
    assert response.status == 200
    return await reply_for(slack, key)


def slash_form(
    slack: SlackHarness, who: str, text: str, key: str, *, channel: str | None = None
) -> dict[str, str]:
    """The form Slack posts for ``/assistant text``; replies go to the response_url ``key``."""
    return {
        "token": "legacy",
        "team_id": TEAM,
        "team_domain": "acme",
        "channel_id": channel or "D" + who,
        "channel_name": "directmessage",
        "user_id": who,
        "user_name": who.lower(),
        "command": "/assistant",
        "text": text,
        "api_app_id": "A0001",
        "response_url": f"{slack.fake.base_url}/response/{key}",
        "trigger_id": "trigger-1",
    }


async def press(slack: SlackHarness, who: str, button: dict[str, Any], channel: str) -> dict:
    """``who`` clicks ``button`` (a Block Kit element from an earlier reply)."""
    key = f"r{next(_keys)}"
    response = await slack.interaction(
        {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": who, "username": who.lower(), "team_id": TEAM},
            "api_app_id": "A0001",
            "token": "legacy",
            "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
            "channel": {"id": channel, "name": "directmessage"},
            "trigger_id": "trigger-2",
            "response_url": f"{slack.fake.base_url}/response/{key}",
            "actions": [
                {
                    "type": "button",
                    "block_id": "b1",
                    "action_id": button["action_id"],
                    "value": button["value"],
                    "text": button["text"],
                    "action_ts": "1700000000.000100",
                }
            ],
        }
    )
    assert response.status == 200
    return await reply_for(slack, key)


async def reply_for(slack: SlackHarness, key: str) -> dict[str, Any]:
    await slack.settle()
    posted = [r for r in slack.fake.responses if r["key"] == key]
    assert len(posted) == 1, posted
    return posted[0]


def shown(reply: dict[str, Any]) -> str:
    parts = [reply.get("text", "")]
    for block in reply.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for field in block.get("fields") or []:
            parts.append(field["text"])
        for element in block.get("elements") or []:
            if element.get("type") == "mrkdwn":
                parts.append(element["text"])
    return "\n".join(parts)


def entries(reply: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(heading, title, link) for every history row, in the order shown."""
    found: list[tuple[str, str, str]] = []
    heading = ""
    for block in reply.get("blocks") or []:
        text = (block.get("text") or {}).get("text", "") if block["type"] == "section" else ""
        for line in text.splitlines():
            if match := _HEADING.match(line):
                heading = match.group(1)
            elif match := _ENTRY.match(line):
                found.append((heading, match.group(2), match.group(1)))
    return found


def buttons(reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        element["text"]["text"]: element
        for block in reply.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    }


async def audit(slack: SlackHarness) -> list[tuple[Any, ...]]:
    return await rows(
        slack.runtime.db.pool,
        "SELECT actor, action, target, outcome, details FROM audit_log ORDER BY id",
    )


async def test_history_groups_sixty_conversations_by_day_and_more_pages_through_all(
    slack: SlackHarness,
):
    alice = await person(slack, "UALICE")
    now = datetime.now(UTC)
    seeded: dict[str, tuple[datetime, str]] = {}
    for n in range(60):
        # Three months back, denser near today so every heading has rows.
        at = now - timedelta(minutes=5) - timedelta(hours=n * n * 0.62)
        thread = f"1700000{n:03d}.000100"
        title = f"Question {n:02d} about the <!channel> & VPN"
        await seed_conversation(
            slack.runtime.db.pool, [Turn(alice, title, at)], thread=thread, channel="DALICE"
        )
        seeded[title] = (at, thread)
    assert max(now - at for at, _ in seeded.values()) > timedelta(days=85)

    reply = await slash(slack, "UALICE", "history")
    assert reply["response_type"] == "ephemeral"
    pages = [reply]
    while "More" in buttons(pages[-1]):
        assert len(pages) < 10, "More never ran out"
        pages.append(await press(slack, "UALICE", buttons(pages[-1])["More"], "DALICE"))

    assert len(pages) == 6  # 10 a page
    assert all(len(entries(page)) == 10 for page in pages)
    assert "(continued)" in shown(pages[1])
    shown_rows = [row for page in pages for row in entries(page)]
    # Typed text is shown escaped: nobody is pinged by a title.
    assert all("<!channel>" not in shown(page) for page in pages)
    assert all("&lt;!channel" in title and "&amp; VPN" in title for _, title, _ in shown_rows)
    by_number = {title.split()[1]: title for title in seeded}
    titles = [by_number[title.split()[1]] for _, title, _ in shown_rows]
    assert titles == sorted(seeded, key=lambda t: seeded[t][0], reverse=True)
    for (heading, _, link), title in zip(shown_rows, titles, strict=True):
        at, thread = seeded[title]
        # A conversation is as old as its last message, the answer (which matters only when
        # midnight falls between the two). SWITCHBOARD_TIMEZONE is UTC here.
        assert heading == expected_group(at + ANSWER_AFTER, now), title
        assert f"/archives/DALICE/p{thread.replace('.', '')}" in link
    assert {heading for heading, _, _ in shown_rows} == set(GROUPS)
    # Headings appear once per page, in order: a group never restarts.
    first_page = [line for line in shown(pages[0]).splitlines() if _HEADING.match(line)]
    assert len(first_page) == len(set(first_page))


async def two_people(slack: SlackHarness) -> dict[str, Any]:
    """Alice and Bob with private conversations, one shared #general thread, and ratings."""
    pool = slack.runtime.db.pool
    # Slack's profiles say the same emails (users.info, confirmed).
    slack.fake.user_emails.update({"UALICE": "alice@example.com", "UBOB": "bob@example.com"})
    alice = await person(slack, "UALICE", email="alice@example.com", name="Alice")
    bob = await person(slack, "UBOB", email="bob@example.com", name="Bob")
    now = datetime.now(UTC) - timedelta(minutes=10)
    mine = await seed_conversation(
        pool, [Turn(alice, "How do I reset my VPN token?", now)], thread="1.1", channel="DALICE"
    )
    mine2 = await seed_conversation(
        pool,
        [Turn(alice, "Parental leave policy", now - timedelta(days=3), cost_usd=0.02)],
        thread="1.2",
        channel="DALICE",
    )
    theirs = await seed_conversation(
        pool,
        [Turn(bob, "Secret zebra project VPN budget", now - timedelta(hours=1), domain="finance")],
        thread="2.1",
        channel="DBOB",
    )
    shared = await seed_conversation(
        pool,
        [
            Turn(bob, "Who runs the zebra offsite?", now - timedelta(hours=2), cost_usd=0.01),
            Turn(
                alice,
                "And the VPN for the offsite?",
                now - timedelta(hours=2) + timedelta(minutes=1),
            ),
        ],
        thread="3.1",
        channel="CGENERAL",
        kind=ConversationKind.CHANNEL,
    )
    await rate(pool, mine.answer_ids[0], alice, 1, at=now)
    await rate(pool, shared.answer_ids[1], alice, -1, at=now, comment="wrong office")
    await rate(pool, theirs.answer_ids[0], bob, 1, at=now)
    await rate(pool, shared.answer_ids[0], bob, 1, at=now)
    return {
        "alice": alice,
        "bob": bob,
        "mine": [mine, mine2],
        "theirs": theirs,
        "shared": shared,
    }


async def test_a_person_never_sees_or_finds_someone_elses_conversations(slack: SlackHarness):
    await two_people(slack)

    alice_dm = shown(await slash(slack, "UALICE", "history"))
    assert "reset my VPN token" in alice_dm and "Parental leave" in alice_dm
    assert "zebra" not in alice_dm  # neither Bob's DM nor the channel thread (asked from a DM)

    found = shown(await slash(slack, "UALICE", "history zebra"))
    assert "Nothing in your conversations matches" in found and "Secret" not in found
    vpn = await slash(slack, "UALICE", "history vpn")
    assert [title for _, title, _ in entries(vpn)] == ["How do I reset my VPN token?"]

    # In #general, Alice sees the shared thread she took part in, never Bob's DM.
    general = await slash(slack, "UALICE", "history vpn", channel="CGENERAL")
    titles = {title for _, title, _ in entries(general)}
    assert titles == {"How do I reset my VPN token?", "Who runs the zebra offsite?"}
    assert "Secret zebra" not in shown(general)

    bob_found = await slash(slack, "UBOB", "history zebra")
    assert [title for _, title, _ in entries(bob_found)] == ["Secret zebra project VPN budget"]


async def test_non_admin_stats_is_refused_and_the_attempt_audited(slack: SlackHarness):
    await two_people(slack)
    reply = await slash(slack, "UALICE", "stats 30d", channel="CGENERAL")
    assert reply["response_type"] == "ephemeral"
    text = shown(reply)
    assert "admins only" in text and "Conversations" not in text
    [(actor, action, _, outcome, _)] = await audit(slack)
    assert (actor, action, outcome) == (f"slack:{TEAM}:UALICE", "stats", "refused")


async def test_role_promotes_and_demotes_and_is_audited(slack: SlackHarness):
    await person(slack, "UCAROL", name="Carol")
    refused = shown(await slash(slack, "UCAROL", "stats"))
    assert "admins only" in refused

    promoted = shown(await slash(slack, ADMIN, "role <@UCAROL|carol> admin", channel="CGENERAL"))
    assert "Role changed" in promoted and "admin" in promoted
    [[role]] = await rows(
        slack.runtime.db.pool, "SELECT role FROM users WHERE platform_user_id = 'UCAROL'"
    )
    assert role == "admin"
    assert "Usage over the last 7 days" in shown(await slash(slack, "UCAROL", "stats 7d"))

    demoted = shown(await slash(slack, ADMIN, "role <@UCAROL|carol> user"))
    assert "a regular user" in demoted
    assert "admins only" in shown(await slash(slack, "UCAROL", "stats"))
    assert "admins only" in shown(await slash(slack, "UCAROL", "role <@UBOSS> user"))

    log = [(a, act, t, o) for a, act, t, o, _ in await audit(slack)]
    assert log == [
        (f"slack:{TEAM}:UCAROL", "stats", None, "refused"),
        (f"slack:{TEAM}:{ADMIN}", "role", "UCAROL", "ok"),
        (f"slack:{TEAM}:UCAROL", "stats", None, "ok"),
        (f"slack:{TEAM}:{ADMIN}", "role", "UCAROL", "ok"),
        (f"slack:{TEAM}:UCAROL", "stats", None, "refused"),
        (f"slack:{TEAM}:UCAROL", "role", "UBOSS", "refused"),  # whom it was aimed at
    ]


async def test_forget_me_removes_everything_of_that_person_and_nothing_of_anyone_else(
    slack: SlackHarness,
):
    world = await two_people(slack)
    pool = slack.runtime.db.pool
    alice, bob = world["alice"], world["bob"]
    shared: Seeded = world["shared"]
    bob_messages = set(world["theirs"].question_ids + world["theirs"].answer_ids)
    bob_messages |= {shared.question_ids[0], shared.answer_ids[0]}
    before = await rows(
        pool, "SELECT id, text FROM messages WHERE id = ANY(%s)", list(bob_messages)
    )

    ask = await slash(slack, "UALICE", "forget-me")
    assert "Delete everything" in shown(ask)
    confirm = buttons(ask)["Yes, delete my data"]
    assert confirm["style"] == "danger"
    # Nothing is gone until she confirms.
    assert await rows(pool, "SELECT count(*) FROM messages") == [(10,)]

    done = await press(slack, "UALICE", confirm, "DALICE")
    assert "forgotten you" in shown(done)

    assert await rows(pool, "SELECT count(*) FROM messages WHERE user_id = %s", alice.id) == [(0,)]
    assert await rows(pool, "SELECT count(*) FROM feedback WHERE user_id = %s", alice.id) == [(0,)]
    assert await rows(pool, "SELECT count(*) FROM conversations WHERE user_id = %s", alice.id) == [
        (0,)
    ]
    assert await rows(pool, "SELECT display_name, email FROM users WHERE id = %s", alice.id) == [
        (None, None)
    ]
    # Bob keeps every message (the shared thread included), his ratings and his conversations.
    assert sorted(await rows(pool, "SELECT id, text FROM messages")) == sorted(before)
    assert await rows(pool, "SELECT count(*) FROM feedback WHERE user_id = %s", bob.id) == [(2,)]
    assert await rows(
        pool, "SELECT user_id, title FROM conversations WHERE id = %s", shared.conversation_id
    ) == [(bob.id, "Who runs the zebra offsite?")]
    assert "zebra" in shown(await slash(slack, "UBOB", "history zebra"))
    assert "No conversations yet" in shown(await slash(slack, "UALICE", "history"))

    # The deletion is audited with counts, never with what she wrote.
    entries_ = [e for e in await audit(slack) if e[1] == "forget-me"]
    assert [(a, o) for a, _, _, o, _ in entries_][-1] == (f"slack:{TEAM}:UALICE", "ok")
    logged = json.dumps(entries_[-1][4])
    assert "VPN" not in logged and "Parental" not in logged and "wrong office" not in logged


async def test_export_puts_exactly_the_persons_data_in_their_dm(slack: SlackHarness):
    world = await two_people(slack)
    alice = world["alice"]
    reply = await slash(slack, "UALICE", "export", channel="CGENERAL")
    assert "is in your DM with me" in shown(reply)

    [upload] = slack.fake.uploads
    assert upload["channel_id"] == "DALICE"  # conversations.open with Alice, not #general
    assert upload["filename"].endswith(".json") and upload["length"] == len(upload["content"])
    data = json.loads(upload["content"])

    mine: list[Seeded] = world["mine"]
    shared: Seeded = world["shared"]
    expected = {i for s in mine for i in s.question_ids + s.answer_ids}
    expected |= {shared.question_ids[1], shared.answer_ids[1]}
    exported = {m["id"] for c in data["conversations"] for m in c["messages"]}
    assert exported == expected
    assert data["user"]["user_id"] == "UALICE" and data["user"]["email"] == "alice@example.com"
    assert sorted(f["rating"] for f in data["feedback"]) == [-1, 1]
    text = upload["content"].decode()
    assert "zebra" not in text  # Bob's questions and the title he gave the shared thread
    assert [(a, act, o) for a, act, _, o, _ in await audit(slack)] == [
        (f"slack:{TEAM}:UALICE", "export", "ok")
    ]
    assert alice.id


async def test_export_whose_upload_fails_says_so_offers_to_try_again_and_is_audited_failed(
    slack: SlackHarness,
):
    await two_people(slack)
    slack.fake.outage("files.completeUploadExternal", 20)  # Slack has a bad minute

    reply = await slash(slack, "UALICE", "export", channel="CGENERAL")

    text = shown(reply)
    assert "is in your DM with me" not in text
    assert "the file did not arrive" in text and "Nothing was lost" in text
    assert "Try again" in json.dumps(reply.get("blocks") or [])
    assert [(act, o) for _, act, _, o, _ in await audit(slack)] == [("export", "failed")]

    slack.fake.recover()
    again = await slash(slack, "UALICE", "export", channel="CGENERAL")
    assert "is in your DM with me" in shown(again)
    assert [(act, o) for _, act, _, o, _ in await audit(slack)] == [
        ("export", "failed"), ("export", "ok"),
    ]


async def test_stats_numbers_match_the_rows_they_count(slack: SlackHarness):
    world = await two_people(slack)
    pool = slack.runtime.db.pool
    # An old conversation (outside 30 days) must not be counted.
    await seed_conversation(
        pool,
        [Turn(world["bob"], "Old question", datetime.now(UTC) - timedelta(days=45), cost_usd=5)],
        thread="9.9",
        channel="DBOB",
    )
    reply = await slash(slack, ADMIN, "stats 30d")
    fields = {
        f["text"].split("\n", 1)[0].strip("*"): f["text"].split("\n", 1)[1]
        for block in reply["blocks"]
        for f in block.get("fields") or []
    }
    since = datetime.now(UTC) - timedelta(days=30)
    [(conversations, messages, questions, users, cost)] = await rows(
        pool,
        """SELECT count(DISTINCT conversation_id), count(*), count(*) FILTER (WHERE role='user'),
                  count(DISTINCT user_id), sum(cost_usd) FROM messages WHERE created_at >= %s""",
        since,
    )
    # Seeded: 4 conversations, 5 questions each answered, Alice and Bob, $0.03.
    assert (conversations, messages, questions, users) == (4, 10, 5, 2)
    assert fields["Conversations"] == "4"
    assert fields["Messages"] == "10 (5 questions)"
    assert fields["Active users"] == "2"
    assert fields["👍 share"] == "75% of 4 ratings"
    assert (
        fields["Model cost"].startswith(f"${float(cost):,.2f}") and "$0.03" in fields["Model cost"]
    )
    assert "p50 400" in fields["Time to first token"]
    text = shown(reply)
    assert "it 4" in text and "finance 1" in text  # top domains
    assert [(a, act, o) for a, act, _, o, _ in await audit(slack)] == [
        (f"slack:{TEAM}:{ADMIN}", "stats", "ok")
    ]


async def test_history_today_is_the_persons_today_from_their_slack_profile(slack: SlackHarness):
    # Kiritimati is UTC+14: for much of every day its date is not UTC's.
    zone = ZoneInfo("Pacific/Kiritimati")
    slack.fake.user_timezones["UALICE"] = zone.key
    alice = await person(slack, "UALICE")
    now = datetime.now(UTC)
    at = next(
        now - timedelta(hours=h)
        for h in range(1, 48)
        if expected_group(now - timedelta(hours=h), now)
        != expected_group(now - timedelta(hours=h), now, zone)
    )
    await seed_conversation(
        slack.runtime.db.pool, [Turn(alice, "Where is my payslip?", at)], thread="5.5"
    )
    [(heading, title, _)] = entries(await slash(slack, "UALICE", "history"))
    assert title == "Where is my payslip?"
    assert heading == expected_group(at + ANSWER_AFTER, now, zone)
