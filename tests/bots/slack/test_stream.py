"""Answers streamed into Slack: whole, split when too long, paced, finished whatever Slack does."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import SecretStr

from bots.settings import AppSettings as Settings
from tests.bots.slack.conftest import SlackHarness, dm, new_ts, running_slack
from tests.support.fake_openai import FakeOpenAI, serve_fake
from tests.support.fake_slack import FakeSlack

MODEL_KEY = "sk-test-slack"
QUESTION = "How do I connect to the VPN from home?"


def paragraphs(chars: int) -> str:
    """Prose of about ``chars`` characters in paragraphs, each sentence citing passage 1 and no
    run of words repeated (the grounding check would stop a loop, or hide uncited text)."""
    rng = random.Random(chars)
    out: list[str] = []
    while sum(map(len, out)) < chars:
        words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
                 for _ in range(rng.randint(12, 20))]
        out.append(" ".join(words).capitalize() + " [1].\n\n")
    return "".join(out).rstrip()


@asynccontextmanager
async def slack_with_model(
    settings: Settings, fake: FakeSlack, model: FakeOpenAI, **overrides: object
) -> AsyncIterator[SlackHarness]:
    async with serve_fake(model) as url:
        values: dict[str, object] = {
            "openai_base_url": url,
            "openai_api_key": SecretStr(MODEL_KEY),
            "chat_model": "gpt-4o-mini",
            "answer_cache_ttl": 0,
            "router_timeout": 1.0,
            "model_first_token_timeout": 10.0,
            "model_idle_timeout": 10.0,
            "model_total_timeout": 120.0,
        }
        values.update(overrides)
        async with running_slack(settings, fake, **values) as harness:
            yield harness


def whole(slack: SlackHarness, channel: str, ts: str, stored: str) -> bool:
    return slack.fake.thread_text(channel, ts) == stored


async def test_a_15000_character_answer_arrives_whole_in_consecutive_messages(settings: Settings):
    model = FakeOpenAI(api_key=MODEL_KEY, default_reply=paragraphs(15_000))
    async with slack_with_model(settings, FakeSlack(), model) as slack:
        ts = new_ts()
        await slack.event(dm(QUESTION, ts=ts))
        await slack.settle()
        [(_, stored)] = await slack.answers()
        messages = slack.fake.thread("D1", ts)
    assert len(stored) >= 15_000
    assert len(messages) == 2
    assert all(len(m.body) <= 12_000 for m in messages)
    assert "".join(m.body for m in messages) == stored  # nothing cut, nothing repeated
    assert messages[0].body.endswith("\n\n")  # split between paragraphs
    assert not any(b["type"] == "context_actions" for b in messages[0].blocks)
    assert any(b["type"] == "context_actions" for b in messages[1].blocks)


async def test_a_429_storm_slows_the_bot_down_without_losing_text(settings: Settings):
    model = FakeOpenAI(api_key=MODEL_KEY, default_reply=paragraphs(1_500))
    model.behaviour.token_interval_s = 0.01
    fake = FakeSlack()
    fake.storm("chat.appendStream", 3)
    async with slack_with_model(settings, fake, model, slack_stream_interval_s=0.05) as slack:
        ts = new_ts()
        await slack.event(dm(QUESTION, ts=ts))
        await slack.settle()
        [(_, stored)] = await slack.answers()
        assert whole(slack, "D1", ts, stored)
    appends = fake.calls_to("chat.appendStream")
    limited = [c for c in appends if c.status == 429]
    assert len(limited) == 3
    for call in limited:
        # Nobody called the method again before Retry-After (1 s) had passed.
        after = [c.at for c in appends if c.at > call.at]
        assert after and min(after) - call.at >= 1.0
    assert any(c.ok for c in appends)


async def test_a_stream_slack_closed_after_its_time_is_finished_with_chat_update(
    settings: Settings,
):
    model = FakeOpenAI(api_key=MODEL_KEY, default_reply=paragraphs(1_200))
    model.behaviour.token_interval_s = 0.01
    fake = FakeSlack(stream_ttl_s=0.6)
    async with slack_with_model(settings, fake, model, slack_stream_interval_s=0.1) as slack:
        ts = new_ts()
        await slack.event(dm(QUESTION, ts=ts))
        await slack.settle()
        [(_, stored)] = await slack.answers()
        [message] = fake.thread("D1", ts)
    assert any(c.error == "message_not_in_streaming_state" for c in fake.calls)
    assert fake.calls_to("chat.update")[-1].ok
    assert message.body == stored
    assert any(b["type"] == "context_actions" for b in message.blocks)


async def test_without_streaming_a_placeholder_is_updated_with_the_whole_answer(settings: Settings):
    model = FakeOpenAI(api_key=MODEL_KEY, default_reply=paragraphs(2_000))
    model.behaviour.token_interval_s = 0.005
    fake = FakeSlack(streaming=False)
    async with slack_with_model(settings, fake, model) as slack:
        first, second = new_ts(), new_ts()
        await slack.event(dm(QUESTION, ts=first))
        await slack.settle()
        await slack.event(dm(QUESTION, ts=second, user="U2", channel="D2"))
        await slack.settle()
        stored = [text for _, text in await slack.answers()]
        assert whole(slack, "D1", first, stored[0]) and whole(slack, "D2", second, stored[1])
    assert fake.calls_to("chat.postMessage") and fake.calls_to("chat.update")
    # Once Slack said streaming is not there, the bot stops asking.
    assert len(fake.calls_to("chat.startStream")) == 1


async def test_twenty_concurrent_questions_in_one_workspace_leave_no_429_unhandled(
    settings: Settings,
):
    model = FakeOpenAI(api_key=MODEL_KEY, default_reply=paragraphs(800))
    model.behaviour.token_interval_s = 0.01
    # A 4-second window: the tiers' budgets (20 starts, 100 appends…) run out within the test.
    fake = FakeSlack(window_s=4.0)
    async with slack_with_model(
        settings, fake, model, slack_pacing_window_s=4.0, slack_stream_interval_s=0.05
    ) as slack:
        asked = [(f"D{n}", new_ts()) for n in range(20)]
        await asyncio.gather(
            *(
                slack.event(dm(QUESTION, user=f"U{n}", channel=channel, ts=ts))
                for n, (channel, ts) in enumerate(asked)
            )
        )
        await slack.settle(timeout=120)
        stored = {text for _, text in await slack.answers()}
        assert len(await slack.answers()) == 20
        for channel, ts in asked:
            assert slack.fake.thread_text(channel, ts) in stored
            assert any(
                b["type"] == "context_actions" for b in slack.fake.thread(channel, ts)[-1].blocks
            )
    assert len(fake.calls_to("chat.appendStream")) > 0
    # The pacing kept every method inside its tier: Slack never had to say 429.
    assert fake.rate_limited == []


async def test_a_burst_beyond_the_answer_limit_waits_its_turn_and_is_answered(settings: Settings):
    model = FakeOpenAI(api_key=MODEL_KEY, default_reply=paragraphs(300))
    model.behaviour.token_interval_s = 0.01
    fake = FakeSlack()
    async with slack_with_model(settings, fake, model, max_answers=2) as slack:
        asked = [(f"D{n}", new_ts()) for n in range(6)]
        responses = await asyncio.gather(
            *(
                slack.event(dm(QUESTION, user=f"U{n}", channel=channel, ts=ts))
                for n, (channel, ts) in enumerate(asked)
            )
        )
        assert all(r.status == 200 for r in responses)  # all acknowledged at once
        await slack.settle()
        stored = {text for _, text in await slack.answers()}
        assert all(fake.thread_text(channel, ts) in stored for channel, ts in asked)
    # Never more than two answers streaming at the same time.
    events = sorted(
        [(c.at, 1) for c in fake.calls_to("chat.startStream")]
        + [(c.at, -1) for c in fake.calls_to("chat.stopStream")]
    )
    open_streams = peak = 0
    for _, change in events:
        open_streams += change
        peak = max(peak, open_streams)
    assert peak == 2
