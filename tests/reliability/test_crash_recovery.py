"""A replica dies mid-answer, or a question fails every time: the inbox sees it through.

"Dies" here is an in-process replica whose answer tasks are cancelled and which then shuts
down without a word: no bookkeeping, no renewed lease (tests/reliability/test_replicas.py does
the same with a real ``switchboard serve`` process and SIGKILL).
"""

from __future__ import annotations

import asyncio

from bots.slack.stream import SlackReplyStream
from bots.slack.target import ReplyTarget, StreamPacing
from core.answers import Answer
from core.settings import Settings
from tests.bots.slack.conftest import BOT_TOKEN, TEAM, SlackHarness, dm, new_ts
from tests.reliability.conftest import (
    SORRY,
    STILL_WORKING,
    all_finished,
    counter,
    eventually,
    inbox_rows,
    long_answer,
    model_server,
    replica,
    stored_turns,
)
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_slack import FakeSlack

QUESTION = "How do I connect to the VPN from home?"


def die(slack: SlackHarness) -> None:
    """The replica stops dead: its answers in flight are dropped where they are."""
    doomed = {"SlackBot._answer", "SlackReplyStream._run"}
    for task in asyncio.all_tasks():
        if getattr(task.get_coro(), "__qualname__", "") in doomed:
            task.cancel()


def streaming(fake: FakeSlack, channel: str, ts: str) -> bool:
    messages = fake.thread(channel, ts)
    return bool(messages) and messages[0].streaming and len(messages[0].text) > 20


async def test_an_answer_half_streamed_by_a_dead_replica_is_finished_in_the_same_message(
    settings: Settings,
):
    model = FakeOpenAI(default_reply=long_answer())
    model.behaviour.token_interval_s = 0.05
    fake = FakeSlack()
    ts = new_ts()
    async with model_server(model) as url:
        async with replica(settings, fake, model_url=url) as first:
            await first.event(dm(QUESTION, ts=ts), event_id="EvCRASH")
            await eventually(lambda: streaming(fake, "D1", ts), what="the answer to stream")
            half = fake.thread("D1", ts)[0].text
            die(first)
        model.behaviour.token_interval_s = 0  # no need to wait for the second attempt
        async with replica(settings, fake, model_url=url, load=False) as second:
            await eventually(lambda: all_finished(second.runtime, 1), what="the event to finish")
            await second.settle()
            questions, answers = await stored_turns(second.runtime, ts)
            rows = await inbox_rows(second.runtime)
            redelivered = counter(
                second.runtime, "switchboard_events_redelivered_total", platform="slack"
            )

    [message] = fake.thread("D1", ts)  # the half-streamed message, not a second one
    assert half and not message.streaming
    [answer] = answers
    assert message.body == answer and answer.startswith("Step 1:") and "Step 40:" in answer
    assert questions == [QUESTION]  # the dead attempt's copy of the question is gone
    assert rows["EvCRASH"][:2] == ("done", 2)
    assert redelivered == 1
    assert any(b["type"] == "context_actions" for b in message.blocks)  # 👍/👎 as usual


async def test_a_question_that_fails_every_time_stops_after_three_attempts_and_says_so(
    settings: Settings,
):
    fake = FakeSlack()
    async with replica(settings, fake) as slack:
        # The database refuses this one question, every time: a poison event.
        async with slack.runtime.db.pool.connection() as conn:
            await conn.execute(
                """CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN
                     IF NEW.event_key = 'EvPOISON' THEN
                       RAISE EXCEPTION 'this question breaks the store';
                     END IF;
                     RETURN NEW;
                   END $$;
                   CREATE TRIGGER refuse_poison BEFORE INSERT ON messages
                     FOR EACH ROW EXECUTE FUNCTION refuse_poison();"""
            )
        poison, fine = new_ts(), new_ts()
        await slack.event(dm("How do I reset my password?", ts=poison), event_id="EvPOISON")
        await slack.event(dm(QUESTION, ts=fine, channel="D2"), event_id="EvFINE")
        await eventually(lambda: all_finished(slack.runtime, 2), what="both events to finish")
        await slack.settle()
        rows = await inbox_rows(slack.runtime)
        _, fine_answers = await stored_turns(slack.runtime, fine)
        finished = {
            outcome: counter(
                slack.runtime,
                "switchboard_events_finished_total",
                platform="slack",
                outcome=outcome,
            )
            for outcome in ("done", "retried", "failed")
        }

    state, attempts, error = rows["EvPOISON"]
    assert (state, attempts) == ("failed", 3)
    assert error is not None and "this question breaks the store" in error
    # One message in the thread: "taking longer than usual", replaced at the end by the apology.
    [told] = fake.thread("D1", poison)
    assert SORRY in told.body and STILL_WORKING not in told.body
    assert told.updates >= 1
    # The other question was answered as usual meanwhile.
    assert rows["EvFINE"][:2] == ("done", 1)
    [message] = fake.thread("D2", fine)
    assert fine_answers == [message.body]
    assert finished == {"done": 1, "retried": 2, "failed": 1}


async def test_an_event_whose_replica_died_on_its_last_attempt_is_given_up_and_the_user_told(
    settings: Settings,
):
    model = FakeOpenAI(default_reply=long_answer())
    model.behaviour.token_interval_s = 0.05
    fake = FakeSlack()
    ts = new_ts()
    async with model_server(model) as url:
        async with replica(settings, fake, model_url=url, inbox_max_attempts=1) as first:
            await first.event(dm(QUESTION, ts=ts), event_id="EvLAST")
            await eventually(lambda: streaming(fake, "D1", ts), what="the answer to stream")
            die(first)
        async with replica(
            settings, fake, model_url=url, load=False, inbox_max_attempts=1
        ) as second:
            await eventually(lambda: all_finished(second.runtime, 1), what="the give-up")
            rows = await inbox_rows(second.runtime)
            gave_up = counter(
                second.runtime,
                "switchboard_events_finished_total",
                platform="slack",
                outcome="gave_up",
            )

    [message] = fake.thread("D1", ts)
    assert SORRY in message.body and "Step 1:" not in message.body
    assert not message.streaming
    state, attempts, error = rows["EvLAST"]
    assert (state, attempts) == ("failed", 1)
    assert error is not None and error.startswith("gave up after 1 attempts")
    assert gave_up == 1
    assert len(model.bodies("chat")) == 1  # given up, not answered again


async def test_a_shorter_answer_given_again_removes_the_dead_attempts_extra_message(
    settings: Settings,
):
    fake = FakeSlack()
    ts = new_ts()
    async with replica(settings, fake, load=False) as slack:
        calls = slack.bot.calls
        # What a dead attempt left: a long answer in two messages, the second still streaming.
        first = await calls.api(
            TEAM,
            "chat.postMessage",
            token=BOT_TOKEN,
            channel="D1",
            thread_ts=ts,
            text="Part one of a long answer…",
        )
        second = await calls.api(
            TEAM,
            "chat.startStream",
            token=BOT_TOKEN,
            channel="D1",
            thread_ts=ts,
            markdown_text="Part two, cut off mid-",
        )
        target = ReplyTarget(
            team_id=TEAM,
            token=BOT_TOKEN,
            channel="D1",
            thread_ts=ts,
            user_id="U1",
            user_team_id=TEAM,
        )
        recorded: list[dict] = []
        stream = SlackReplyStream(
            calls,
            target,
            StreamPacing(append_interval_s=0.1, update_interval_s=0.1),
            resume=[first["ts"], second["ts"]],
            on_progress=recorded.append,
        )
        await stream.append("The whole answer, shorter this time.")
        await stream.finish(Answer(text="The whole answer, shorter this time."))

    [message] = fake.thread("D1", ts)
    assert message.ts == first["ts"]
    assert message.body == "The whole answer, shorter this time."
    assert stream.delivered and stream.message_ts == [first["ts"]]
    assert {"ts": [first["ts"], second["ts"]]} in recorded  # both known while both were shown
