"""Slack's Web API answers 429 or 5xx: answers arrive anyway, once, in one message."""

from __future__ import annotations

from bots.settings import AppSettings as Settings
from tests.bots.slack.conftest import dm, new_ts
from tests.reliability.conftest import (
    all_finished,
    counter,
    eventually,
    inbox_rows,
    replica,
    stored_turns,
)
from tests.support.fake_slack import FakeSlack

QUESTIONS = (
    "How do I connect to the VPN from home?",
    "How many days of annual leave do I get?",
    "How do I reset my password?",
)


async def ask_all(slack, fake: FakeSlack) -> list[tuple[str, str]]:
    threads = [(f"D{i}", new_ts()) for i in range(len(QUESTIONS))]
    for (channel, ts), question in zip(threads, QUESTIONS, strict=True):
        await slack.event(dm(question, ts=ts, channel=channel))
    return threads


async def one_message_each(slack, fake: FakeSlack, threads: list[tuple[str, str]]) -> None:
    for channel, ts in threads:
        [message] = fake.thread(channel, ts)
        _, [answer] = await stored_turns(slack.runtime, ts)
        assert message.body == answer


async def test_429_storms_slow_answers_down_but_each_arrives_once(settings: Settings):
    fake = FakeSlack()
    fake.storm("chat.startStream", 2)
    fake.storm("chat.appendStream", 3)
    fake.storm("chat.stopStream", 2)
    async with replica(settings, fake) as slack:
        threads = await ask_all(slack, fake)
        await eventually(lambda: all_finished(slack.runtime, len(threads)))
        await slack.settle()
        await one_message_each(slack, fake, threads)
        rows = await inbox_rows(slack.runtime)
        limited = sum(
            counter(
                slack.runtime,
                "switchboard_platform_calls_total",
                platform="slack",
                method=method,
                outcome="ratelimited",
            )
            for method in ("chat.startStream", "chat.appendStream", "chat.stopStream")
        )
    assert fake.rate_limited  # the storm happened
    assert limited >= 1  # and /metrics shows it by method
    assert sorted(rows.values()) == [("done", 1, None)] * len(threads)


async def test_a_passing_slack_5xx_is_retried_without_the_user_noticing(settings: Settings):
    fake = FakeSlack()
    fake.outage("chat.startStream", 1, status=503)
    fake.outage("chat.stopStream", 1, status=500)
    async with replica(settings, fake) as slack:
        threads = await ask_all(slack, fake)
        await eventually(lambda: all_finished(slack.runtime, len(threads)))
        await slack.settle()
        await one_message_each(slack, fake, threads)
        rows = await inbox_rows(slack.runtime)
    assert fake.calls_to("chat.startStream")[0].status == 503
    assert sorted(rows.values()) == [("done", 1, None)] * len(threads)


async def test_a_slack_outage_longer_than_the_retries_is_answered_when_slack_is_back(
    settings: Settings,
):
    fake = FakeSlack()
    for method in ("chat.startStream", "chat.postMessage", "chat.update"):
        fake.outage(method, 10_000, status=500)
    ts = new_ts()
    # Slow to retry, so the outage can end while the event waits.
    async with replica(settings, fake, inbox_retry_delay_s=3.0) as slack:
        await slack.event(dm(QUESTIONS[0], ts=ts))

        async def given_back() -> bool:
            rows = await inbox_rows(slack.runtime)
            return [state for state, _, _ in rows.values()] == ["pending"]

        await eventually(given_back, what="the first attempt to give the event back")
        assert fake.thread("D1", ts) == []  # Slack took nothing, so the user saw nothing yet
        fake.recover()
        await eventually(lambda: all_finished(slack.runtime, 1), what="the second attempt")
        await slack.settle()
        [(state, attempts, _)] = (await inbox_rows(slack.runtime)).values()
        _, [answer] = await stored_turns(slack.runtime, ts)
    [message] = fake.thread("D1", ts)
    assert message.body == answer
    assert (state, attempts) == ("done", 2)
