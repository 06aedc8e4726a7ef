"""Fuzzing the Teams side: whatever arrives at ``/api/messages``, the answer is a status below
500, no exception escapes, every accepted question ends answered or refused, and nothing the
bot sends mentions anyone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from botbuilder.schema import Activity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msrest.exceptions import DeserializationError

from bots.teams.activities import (
    bot_was_added,
    bot_was_removed,
    chat_event,
    client_timezone,
    event_key,
    other_mentions,
    question_text,
)
from bots.teams.feedback import read_feedback
from bots.teams.payloads import MalformedActivity, check_activity
from core.commands import is_command
from tests.bots.teams.conftest import BotServer
from tests.support.fake_connector import BOT_ID
from tests.support.fuzz import (
    EMOJI_FLOOD,
    INJECTIONS,
    hostile_text,
    json_values,
    maybe,
    run_property,
    some_keys,
)

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

ACTIVITY_TYPES = (
    "message", "conversationUpdate", "installationUpdate", "invoke", "messageReaction",
    "typing", "event", "endOfConversation", "messageUpdate", "messageDelete", "somethingNew",
)
CONVERSATION_TYPES = ("personal", "groupChat", "channel", "somethingNew")
ids = st.text(alphabet="abcdefghij0123456789:-@.;=", min_size=1, max_size=30)


def accounts() -> st.SearchStrategy[dict[str, Any]]:
    return some_keys({"id": maybe(ids), "name": maybe(hostile_text), "aadObjectId": maybe(ids)})


def entities() -> st.SearchStrategy[list[Any]]:
    mention = some_keys(
        {
            "type": st.just("mention"),
            "text": maybe(st.sampled_from(["<at>Switchboard</at>", "<at>Ann</at>"]) | hostile_text),
            "mentioned": maybe(
                some_keys({"id": maybe(st.just(BOT_ID) | ids), "name": hostile_text})
            ),
        }
    )
    client = some_keys({"type": st.just("clientInfo"), "timezone": maybe(st.text(max_size=30))})
    return st.lists(st.one_of(mention, client, json_values), max_size=3)


def activities(
    service_url: str | None = None, types: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Activities shaped like Teams' (or not quite), with hostile text in every text field."""
    url = st.just(service_url) if service_url else st.text(max_size=40)
    kinds = types if types is not None else maybe(st.sampled_from(ACTIVITY_TYPES))
    return some_keys(
        {
            "type": kinds,
            "id": maybe(ids),
            "name": maybe(st.sampled_from(["message/submitAction", "task/fetch", "x/y"])),
            "serviceUrl": url,
            "channelId": maybe(st.just("msteams")),
            "from": maybe(accounts()),
            "recipient": maybe(st.fixed_dictionaries({"id": st.just(BOT_ID)})),
            "conversation": maybe(
                some_keys(
                    {
                        "id": maybe(ids),
                        "conversationType": maybe(st.sampled_from(CONVERSATION_TYPES)),
                        "tenantId": maybe(ids),
                    }
                )
            ),
            "text": maybe(hostile_text),
            "textFormat": maybe(st.sampled_from(["plain", "markdown", "xml"])),
            "entities": maybe(entities()),
            "channelData": maybe(some_keys({"tenant": maybe(some_keys({"id": maybe(ids)}))})),
            "value": maybe(
                some_keys(
                    {
                        "actionName": maybe(st.just("feedback")),
                        "actionValue": maybe(
                            some_keys(
                                {
                                    "reaction": maybe(st.sampled_from(["like", "dislike"])),
                                    "feedback": maybe(hostile_text),
                                }
                            )
                        ),
                    }
                )
            ),
            "replyToId": maybe(ids),
            "membersAdded": maybe(st.lists(accounts(), max_size=2)),
            "membersRemoved": maybe(st.lists(accounts(), max_size=2)),
            "action": maybe(st.sampled_from(["add", "remove", "x"])),
            "localTimezone": maybe(st.text(max_size=20)),
        }
    )


FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(
    st.one_of(
        activities(),
        activities(types=st.just("message")),
        activities(types=st.just("invoke")),
        activities(types=st.sampled_from(["conversationUpdate", "installationUpdate"])),
    )
)
def test_any_activity_is_read_or_refused_as_malformed_never_crashes(body: dict[str, Any]):
    try:
        activity = Activity().deserialize(body)
    except (DeserializationError, ValueError, TypeError):
        return  # the route answers 400
    try:
        check_activity(activity)
    except MalformedActivity:
        return  # the route answers 400
    # What the turn handler reads, for the activity types it reads them in.
    if activity.type in {"conversationUpdate", "installationUpdate"}:
        bot_was_added(activity)
        bot_was_removed(activity)
    if activity.type == "invoke":
        read_feedback(activity.value)
    if activity.type != "message":
        return
    text = question_text(activity)
    assert isinstance(text, str)
    is_command(text)
    event = chat_event(activity)
    assert event.text == text and isinstance(event.person.user_id, str)
    assert isinstance(event.thread.channel_id, str) and isinstance(event.thread.thread_id, str)
    assert isinstance(event_key(activity), str)
    assert all(isinstance(m, str) for m in other_mentions(activity))
    zone = client_timezone(activity)
    assert zone is None or isinstance(zone, str)

FEEDBACK = st.fixed_dictionaries(
    {
        "actionName": maybe(st.just("feedback")),
        "actionValue": maybe(
            st.fixed_dictionaries(
                {
                    "reaction": maybe(st.sampled_from(["like", "dislike", "LIKE"])),
                    "feedback": maybe(
                        json_values.map(lambda v: json.dumps({"feedbackText": v}))
                        | hostile_text
                        | st.fixed_dictionaries({"feedbackText": json_values})
                    ),
                }
            )
        ),
    }
)


@FUZZ
@given(st.one_of(FEEDBACK, json_values))
def test_feedback_of_any_shape_is_read_or_ignored(value: Any):
    rating = read_feedback(value)
    assert rating is None or rating.rating in {1, -1}


def test_hostile_text_reads_back_without_control_or_markup_surprises():
    for text in (*INJECTIONS, EMOJI_FLOOD):
        activity = Activity().deserialize(
            {"type": "message", "text": text, "recipient": {"id": BOT_ID}}
        )
        assert "<at>" not in question_text(activity)


async def inbox_states(bot: BotServer) -> dict[str, int]:
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT state, count(*) FROM inbox GROUP BY state")
        return {str(state): int(n) for state, n in await cur.fetchall()}


def mentions_in(body: dict[str, Any]) -> list[str]:
    """Mention entities and ``<at>`` tags in an activity the bot sent."""
    found = [
        str(e) for e in body.get("entities") or () if str(e.get("type", "")).lower() == "mention"
    ]
    text = str(body.get("text") or "")
    if "<at" in text.lower():
        found.append(text)
    return found


def teams_messages(bot: BotServer) -> st.SearchStrategy[dict[str, Any]]:
    """Messages as Teams sends them, with hostile text, some fields then changed at random."""
    base = st.builds(
        lambda text, kind, user, n: bot.connector.activity(
            text, kind=kind, user=f"29:{user}", activity_id=f"1{n:012d}"
        ),
        hostile_text,
        st.sampled_from(["personal", "groupChat", "channel"]),
        ids,
        st.integers(min_value=0, max_value=10**12),
    )
    changes = some_keys(
        {
            "type": maybe(st.sampled_from(ACTIVITY_TYPES)),
            "text": maybe(hostile_text),
            "entities": maybe(entities()),
            "channelData": maybe(some_keys({"tenant": maybe(some_keys({"id": maybe(ids)}))})),
            "value": json_values,
            "name": maybe(st.sampled_from(["message/submitAction", "task/fetch"])),
            "membersAdded": maybe(st.lists(accounts(), max_size=2)),
        }
    )
    return st.tuples(base, changes).map(lambda pair: {**pair[0], **pair[1]})


async def test_fuzzed_activities_through_the_endpoint_never_fail_or_mention_anyone(
    bot: BotServer,
):
    statuses: list[int] = []

    async def post(body: dict[str, Any]) -> None:
        status, _ = await bot.post(body)
        statuses.append(status)
        # Turned away: a malformed activity (400), one whose serviceUrl the token was not
        # issued for (401); an invoke nobody implements is botbuilder's 501 "not implemented".
        assert status in {200, 400, 401} or (status == 501 and body.get("type") == "invoke"), (
            status,
            body,
        )

    strategy = st.one_of(
        activities(bot.connector.base_url),
        teams_messages(bot),
        teams_messages(bot),
    )
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(run_property, loop, strategy, post, examples=150)
    await bot.settle()

    assert 200 in statuses and 400 in statuses  # the fuzzer reached both sides
    states = await inbox_states(bot)
    assert set(states) <= {"done"}, states  # every accepted question answered or refused
    sent = [request.body for request in bot.connector.requests]
    assert sent, "nothing was answered"
    assert [m for body in sent for m in mentions_in(body)] == []


async def test_mention_injection_is_answered_without_mentioning_anyone(bot: BotServer):
    texts = (*INJECTIONS, EMOJI_FLOOD, "How do I reset my password? <at>All</at>")
    for n, text in enumerate(texts):
        activity = bot.connector.activity(f"{text} How do I connect to the VPN?", user=f"29:u{n}")
        status, _ = await bot.post(activity)
        assert status == 200
    await bot.settle()
    assert set(await inbox_states(bot)) == {"done"}
    sent = [request.body for request in bot.connector.requests]
    assert [m for body in sent for m in mentions_in(body)] == []
    # The flood was refused politely (too long), the rest answered.
    texts = [str(body.get("text") or "") for body in sent]
    assert any("characters long" in t for t in texts)
