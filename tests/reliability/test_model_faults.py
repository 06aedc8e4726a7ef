"""The model endpoint misbehaves while several people ask at once: each question is still
answered once, in one message, and the user reads plainly what went wrong."""

from __future__ import annotations

import pytest

from core.settings import Settings
from tests.bots.slack.conftest import dm, new_ts
from tests.reliability.conftest import (
    all_finished,
    eventually,
    inbox_rows,
    model_server,
    replica,
    stored_turns,
)
from tests.support.fake_openai import Behaviour, FakeOpenAI
from tests.support.fake_slack import FakeSlack

QUESTIONS = (
    "How do I connect to the VPN from home?",
    "How many days of annual leave do I get?",
    "How do I reset my password?",
    "What is the travel expense policy?",
)
REPLY = "Open the VPN client and choose the nearest gateway [1]. Then sign in with your account [1]."
DOWN = "The language model isn't responding right now"
CUT_OFF = "This answer was cut off because the language model stopped responding"
# Quick retries and a short first-token wait, so a bad model day plays out in seconds.
MODEL_LIMITS = {
    "model_retries": 2,  # both 429s of the 429 case may land on one question
    "model_backoff_base": 0.05,
    "model_backoff_max": 0.2,
    "model_first_token_timeout": 1.5,
}


@pytest.mark.parametrize(
    ("behaviour", "shown", "status"),
    [
        pytest.param(Behaviour(fail_status=500), DOWN, "complete", id="500-always"),
        pytest.param(
            Behaviour(fail_status=429, fail_times=2, retry_after="0"),
            REPLY[:30],
            "complete",
            id="429-then-fine",
        ),
        pytest.param(Behaviour(ttft_s=4.0), DOWN, "complete", id="too-slow-to-start"),
        # Cut in the second sentence: the first, checked, was shown and stays.
        pytest.param(Behaviour(cut_after_tokens=11), CUT_OFF, "incomplete", id="stream-cut"),
    ],
)
async def test_a_bad_model_day_answers_everyone_once_and_says_what_happened(
    settings: Settings, behaviour: Behaviour, shown: str, status: str
):
    model = FakeOpenAI(default_reply=REPLY)
    model.behaviour = behaviour
    fake = FakeSlack()
    threads = [(f"D{i}", new_ts()) for i in range(len(QUESTIONS))]
    async with (
        model_server(model) as url,
        replica(settings, fake, model_url=url, **MODEL_LIMITS) as slack,
    ):
        for (channel, ts), question in zip(threads, QUESTIONS, strict=True):
            await slack.event(dm(question, ts=ts, channel=channel, user=f"U{channel}"))
        await eventually(lambda: all_finished(slack.runtime, len(QUESTIONS)))
        await slack.settle()
        model.release()
        stored = [await stored_turns(slack.runtime, ts) for _, ts in threads]
        rows = await inbox_rows(slack.runtime)
        async with slack.runtime.db.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT status FROM messages WHERE role = 'assistant'"
            )
            statuses = {row[0] for row in await cur.fetchall()}

    assert sorted(state for state, _, _ in rows.values()) == ["done"] * len(QUESTIONS)
    assert all(attempts == 1 for _, attempts, _ in rows.values())
    for (channel, ts), (questions, answers) in zip(threads, stored, strict=True):
        [message] = fake.thread(channel, ts)
        [answer] = answers
        assert len(questions) == 1
        assert message.body == answer
        assert shown in answer
    assert statuses == {status}


async def test_a_slow_model_shows_that_the_bot_is_working_before_the_answer(settings: Settings):
    model = FakeOpenAI(default_reply=REPLY)
    model.behaviour.ttft_s = 1.0  # slow, but within the first-token timeout
    fake = FakeSlack()
    ts = new_ts()
    async with (
        model_server(model) as url,
        replica(settings, fake, model_url=url, **MODEL_LIMITS) as slack,
    ):
        await slack.event(dm(QUESTIONS[0], ts=ts))
        await eventually(lambda: all_finished(slack.runtime, 1))
        await slack.settle()
        _, [answer] = await stored_turns(slack.runtime, ts)

    first_status = next(s["status"] for s in fake.statuses if s["thread_ts"] == ts)
    assert first_status == "is thinking…"
    [message] = fake.thread("D1", ts)
    assert message.body == answer and answer.startswith("Open the VPN client")


@pytest.mark.parametrize(
    ("replies", "shown", "hidden"),
    [
        pytest.param(
            ["You just install some VPN. It works from home.", REPLY],
            REPLY, "You just install", id="uncited-then-asked-again",
        ),
        pytest.param(
            ["You just install some VPN. It works from home."] * 2,
            "could not be checked against the company documents", "You just install",
            id="uncited-twice",
        ),
        pytest.param(
            ["Open the VPN client [1]. The allowance is $2,000 a month [1]."],
            "_Check 2,000 in the sources", None, id="planted-figure",
        ),
        pytest.param(
            ["Open the VPN client [1]. " + "Choose the nearest gateway now. " * 5],
            "Choose the nearest gateway now.", None, id="loop",
        ),
    ],
)
async def test_a_checked_answer_reaches_slack_as_one_message_equal_to_what_was_stored(
    settings: Settings, replies: list[str], shown: str, hidden: str | None
):
    model = FakeOpenAI(default_reply=REPLY, replies=list(replies))
    fake = FakeSlack()
    ts = new_ts()
    async with (
        model_server(model) as url,
        replica(settings, fake, model_url=url, grounding_reask=True, **MODEL_LIMITS) as slack,
    ):
        await slack.event(dm(QUESTIONS[0], ts=ts))
        await eventually(lambda: all_finished(slack.runtime, 1))
        await slack.settle()
        _, [answer] = await stored_turns(slack.runtime, ts)

    [message] = fake.thread("D1", ts)
    assert message.body == answer  # nothing lost, nothing doubled
    assert shown in answer and answer.count(shown) == 1
    if hidden:
        assert hidden not in answer
