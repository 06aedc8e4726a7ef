"""When a stream cannot finish normally: Stop pressed, the two-minute limit, a long answer."""

from __future__ import annotations

import pytest

from bots.teams.pacing import split_text
from tests.bots.teams.conftest import BotFactory, BotServer

QUESTION = "How do I connect to the VPN from home?"
ANSWER = (
    "Open the GlobalProtect client, enter the portal address vpn.northwind-lumen.example and "
    "sign in with your company account and MFA [1]. If it will not connect, check your home "
    "internet first, then restart the client [1]."
)


@pytest.fixture
async def streaming_bot(make_bot: BotFactory, model) -> BotServer:
    fake, overrides = model
    fake.default_reply = ANSWER
    return await make_bot(**overrides)


async def stored_answer(bot: BotServer) -> tuple[str, str]:
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT text, status FROM messages WHERE role = 'assistant'")
        [row] = await cur.fetchall()
    return row


async def test_stop_button_ends_the_stream_quietly_and_the_answer_is_still_stored(
    streaming_bot: BotServer,
):
    bot, connector = streaming_bot, streaming_bot.connector
    connector.stop_after_chunks = 1  # the user presses Stop after the first words appear
    activity = connector.activity(QUESTION)
    await bot.post(activity)
    await bot.settle()

    conversation = activity["conversation"]["id"]
    [stream] = connector.streams_in(conversation)
    assert stream.stopped and stream.final is None
    # One refusal told the bot; it sent nothing after that.
    refusals = connector.statuses(403)
    assert len(refusals) == 1
    assert connector.requests[-1] is refusals[-1]
    assert connector.visible(conversation) == []
    assert await stored_answer(bot) == (ANSWER, "complete")
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT state FROM inbox")
        assert await cur.fetchall() == [("done",)]


async def test_answer_outliving_the_stream_time_limit_is_posted_as_a_new_message(
    streaming_bot: BotServer,
):
    bot, connector = streaming_bot, streaming_bot.connector
    connector.stream_time_limit_s = 0.1  # Teams' two minutes, shortened
    activity = connector.activity(QUESTION)
    await bot.post(activity)
    await bot.settle()

    conversation = activity["conversation"]["id"]
    assert connector.statuses(403), "Teams should have refused the stream after its time limit"
    [message] = connector.visible(conversation)
    assert message.entity("streaminfo") is None  # an ordinary message, not the dead stream
    assert message.text == ANSWER
    assert message.entity("https://schema.org/Message") is not None
    assert message.activity["channelData"]["feedbackLoop"] == {"type": "default"}
    assert await stored_answer(bot) == (ANSWER, "complete")
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT activity_id FROM teams_messages")
        assert await cur.fetchall() == [(message.id,)]


@pytest.mark.parametrize("kind", ["personal", "groupChat"])
async def test_long_answer_is_split_below_the_message_size_limit(make_bot: BotFactory, kind: str):
    bot = await make_bot(teams_message_max_chars=200)
    activity = bot.connector.activity("How do I connect to the VPN from home?", kind=kind)
    await bot.post(activity)
    await bot.settle()

    stored, _ = await stored_answer(bot)
    assert len(stored) > 400, "the sample answer should need several messages"
    parts = bot.connector.visible(activity["conversation"]["id"])
    assert len(parts) >= 2
    assert all(len(p.text) <= 200 for p in parts)
    assert "".join(p.text for p in parts).split() == stored.split()
    # The feedback buttons sit under the last part only; every [n] shown is cited where shown.
    assert [("channelData" in p.activity) for p in parts] == [False] * (len(parts) - 1) + [True]
    for part in parts:
        entity = part.entity("https://schema.org/Message")
        assert entity is not None
        for citation in entity.get("citation", []):
            assert f"[{citation['position']}]" in part.text
    assert [r.status for r in bot.connector.requests if r.status >= 400] == []
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM teams_messages")
        assert await cur.fetchone() == (len(parts),)


def test_split_text_keeps_every_character_and_never_shrinks_what_was_shown():
    text = (
        "A first paragraph about leave.\n\nA second one, longer, about how to book it in "
        "Workday. " * 5
    ).strip()
    for limit in (40, 57, 100):
        for keep in (0, 10, 39):
            parts = split_text(text, limit, keep=min(keep, limit))
            assert "".join(parts) == text
            assert all(len(p) <= limit for p in parts)
            assert len(parts[0]) >= min(keep, limit, len(text))
    assert split_text("short", 100) == ["short"]
    # Cuts fall on boundaries where there are any.
    assert split_text("one two three four", 9) == ["one two ", "three ", "four"]


async def test_stream_closes_itself_before_the_time_limit_and_the_rest_follows(
    make_bot: BotFactory, model
):
    fake, overrides = model
    fake.default_reply = ANSWER
    # The answer takes ~1.5 s to write and its first checked sentence is out after ~1 s; the
    # bot closes its stream after 1.2 s (110 s in Teams).
    bot = await make_bot(teams_stream_max_seconds=1.2, **overrides)
    activity = bot.connector.activity(QUESTION)
    await bot.post(activity)
    await bot.settle()

    conversation = activity["conversation"]["id"]
    first, rest = bot.connector.visible(conversation)
    [stream] = bot.connector.streams_in(conversation)
    assert first.id == stream.stream_id and first.text == stream.streamed_text
    assert rest.entity("streaminfo") is None
    assert (first.text + " " + rest.text).split() == ANSWER.split()
    assert "channelData" not in first.activity
    assert rest.activity["channelData"]["feedbackLoop"] == {"type": "default"}
    assert [r.status for r in bot.connector.requests if r.status >= 400] == []
