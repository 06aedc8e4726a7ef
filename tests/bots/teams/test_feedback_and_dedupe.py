"""Feedback buttons are stored; a duplicate delivery is answered once."""

from __future__ import annotations

import asyncio

from tests.bots.teams.conftest import BotServer

QUESTION = "How do I report a phishing email?"


async def test_feedback_invoke_is_stored_and_answered_200_with_an_empty_body(bot: BotServer):
    activity = bot.connector.activity(QUESTION)
    await bot.post(activity)
    await bot.settle()
    [answer] = bot.connector.visible(activity["conversation"]["id"])

    status, body = await bot.post(
        bot.connector.feedback(answer, "dislike", "It missed the hotline")
    )
    assert (status, body) == (200, b"")
    # The user changes their mind: the latest rating wins.
    status, body = await bot.post(bot.connector.feedback(answer, "like", ""))
    assert (status, body) == (200, b"")

    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT f.rating, f.comment, m.role, u.platform_user_id FROM feedback f
               JOIN messages m ON m.id = f.message_id JOIN users u ON u.id = f.user_id"""
        )
        rows = await cur.fetchall()
    assert rows == [(1, None, "assistant", "aad-alice")]


async def test_dislike_with_a_comment_is_kept(bot: BotServer):
    activity = bot.connector.activity(QUESTION)
    await bot.post(activity)
    await bot.settle()
    [answer] = bot.connector.visible(activity["conversation"]["id"])
    status, body = await bot.post(
        bot.connector.feedback(answer, "dislike", "It missed the hotline")
    )
    assert (status, body) == (200, b"")
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT rating, comment FROM feedback")
        assert await cur.fetchall() == [(-1, "It missed the hotline")]


async def test_duplicate_activity_is_answered_once(bot: BotServer):
    activity = bot.connector.activity(QUESTION)
    # Teams delivers the same activity twice, the second while the first is still in hand.
    results = await asyncio.gather(bot.post(activity), bot.post(activity))
    assert [status for status, _ in results] == [200, 200]
    await bot.post(activity)  # and once more, later
    await bot.settle()

    conversation = activity["conversation"]["id"]
    assert len(bot.connector.visible(conversation)) == 1
    assert len(bot.connector.streams_in(conversation)) == 1
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT role, count(*) FROM messages GROUP BY role ORDER BY role")
        assert await cur.fetchall() == [("assistant", 1), ("user", 1)]


def test_feedback_payload_shapes_teams_clients_send():
    from bots.teams.feedback import Rating, read_feedback

    def value(reaction: str, feedback: object) -> dict:
        return {"actionName": "feedback", "actionValue": {"reaction": reaction, "feedback": feedback}}

    assert read_feedback(value("like", '{"feedbackText": ""}')) == Rating(1, None)
    assert read_feedback(value("dislike", '{"feedbackText": " Wrong\\nlink "}')) == Rating(-1, "Wrong\nlink")
    assert read_feedback(value("dislike", "plain words")) == Rating(-1, "plain words")
    assert read_feedback(value("dislike", {"feedbackText": "as an object"})) == Rating(-1, "as an object")
    assert read_feedback(value("meh", "")) is None
    assert read_feedback({"actionName": "somethingElse"}) is None
    assert read_feedback(None) is None
