"""Rate limits and daily budgets as a person meets them: told plainly and before anything is
generated, with nothing stored but the record admins read in `stats`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr

from bots.runtime import Runtime
from core.console import CollectingReplyStream
from core.errors import BudgetExceeded, RateLimited
from core.events import ChatEvent, ConversationKind, Person, ThreadRef
from core.limits import MemoryTokenBucket
from core.settings import Settings
from tests.bots.slack.conftest import dm, new_ts, running_slack
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.support.conversations import ask, someone
from tests.support.fake_openai import FakeOpenAI, serve_fake
from tests.support.fake_slack import FakeSlack

QUESTION = "How do I connect to the VPN from home?"


def event(text: str = QUESTION, *, user: str = "U1", workspace: str = "W1") -> ChatEvent:
    return ChatEvent(
        person=Person(platform="test", workspace_id=workspace, user_id=user),
        thread=ThreadRef(
            platform="test", workspace_id=workspace, channel_id=f"D-{user}",
            thread_id=f"{user}-{text[:20]}", kind=ConversationKind.DM,
        ),
        text=text,
    )


async def stored(runtime: Runtime) -> int:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM messages")
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def asked(runtime: Runtime, ev: ChatEvent) -> CollectingReplyStream:
    stream = CollectingReplyStream()
    try:
        await runtime.assistant.handle(ev, stream)
    except RateLimited:
        assert stream.failure is not None  # the person was told
    return stream


@asynccontextmanager
async def started(settings: Settings, **overrides: Any) -> AsyncIterator[Runtime]:
    async with await Runtime.start(settings.model_copy(update=overrides)) as runtime:
        report = await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        assert not report.failed
        yield runtime


def test_a_bucket_allows_a_burst_then_says_how_long_to_wait():
    now = [100.0]
    bucket = MemoryTokenBucket(capacity=3, per_second=0.5, clock=lambda: now[0])
    assert [bucket.take_now("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take_now("a") == 2.0  # one token takes 2 s at 0.5 a second
    assert bucket.take_now("b") == 0.0  # per person
    now[0] += 1.0
    assert bucket.take_now("a") == 1.0
    now[0] += 1.0
    assert bucket.take_now("a") == 0.0
    now[0] += 3600
    assert [bucket.take_now("a") for _ in range(4)][-1] > 0  # refills to the burst, no more


def test_a_bucket_forgets_idle_people_so_memory_stays_bounded():
    now = [0.0]
    bucket = MemoryTokenBucket(capacity=2, per_second=1.0, max_keys=100, clock=lambda: now[0])
    for n in range(100):
        bucket.take_now(f"u{n}")
    now[0] += 10  # everyone's bucket is full again
    bucket.take_now("newcomer")
    assert bucket.take_now("u1") == 0.0
    assert len(bucket._buckets) <= 101


async def test_asking_too_fast_is_answered_with_when_to_try_again_and_nothing_is_stored(
    settings: Settings,
):
    async with started(settings, rate_limit_burst=2, rate_limit_per_minute=6) as runtime:
        first = await asked(runtime, event(user="UFAST"))
        second = await asked(runtime, event("What is the travel expense policy?", user="UFAST"))
        assert first.answer is not None and second.answer is not None
        before = await stored(runtime)

        stream = CollectingReplyStream()
        try:
            await runtime.assistant.handle(event("When is payday?", user="UFAST"), stream)
        except RateLimited as exc:
            refused = exc
        else:
            raise AssertionError("the third question at once was answered")

        assert not isinstance(refused, BudgetExceeded)
        assert stream.failure is not None and stream.answer is None and stream.deltas == []
        match = re.fullmatch(r"You're asking fast — try again in (\d+) s\.", stream.failure)
        assert match and 1 <= int(match.group(1)) <= 10, stream.failure
        assert await stored(runtime) == before  # no question, no answer, no conversation
        # Someone else asking at the same moment is not slowed down.
        other = await asked(runtime, event("When is payday?", user="UCALM"))
        assert other.answer is not None and other.failure is None


async def test_the_limit_is_shared_through_redis_by_every_replica(
    settings: Settings, redis_url: str
):
    shared = {
        "redis_url": SecretStr(redis_url), "rate_limit_burst": 1, "rate_limit_per_minute": 1,
    }
    async with started(settings, **shared) as one, started(settings, **shared) as two:
        user = f"UREPLICA{id(one)}"
        assert (await asked(one, event(user=user))).answer is not None
        refused = await asked(two, event("When is payday?", user=user))
    assert refused.answer is None
    assert refused.failure is not None and "asking fast" in refused.failure


@asynccontextmanager
async def priced_model(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[Runtime, FakeOpenAI]]:
    """A runtime answering with a fake model whose every token costs a dollar."""
    fake = FakeOpenAI()
    async with serve_fake(fake) as url, started(
        settings,
        openai_base_url=url,
        openai_api_key=SecretStr("test-key"),
        chat_model="fake-chat",
        model_prices={"fake-chat": (1_000_000.0, 1_000_000.0)},
        answer_cache_ttl=0,
        **overrides,
    ) as runtime:
        yield runtime, fake


async def test_a_spent_personal_budget_refuses_before_the_model_is_asked(settings: Settings):
    async with priced_model(settings, user_daily_budget_usd=5.0) as (runtime, model):
        first = await asked(runtime, event(user="USPENDER"))
        assert first.answer is not None and first.answer.usage.cost_usd > 5.0
        calls, before = model.count("chat"), await stored(runtime)

        stream = CollectingReplyStream()
        try:
            await runtime.assistant.handle(event("When is payday?", user="USPENDER"), stream)
        except BudgetExceeded as exc:
            assert exc.scope == "user" and 0 < exc.retry_after <= 86_400
        else:
            raise AssertionError("a question over budget was answered")

        assert stream.failure is not None
        assert "today's allowance" in stream.failure and "midnight UTC" in stream.failure
        assert model.count("chat") == calls and await stored(runtime) == before
        # A colleague with budget left is still answered.
        assert (await asked(runtime, event("When is payday?", user="UOTHER"))).answer is not None


async def test_a_spent_workspace_budget_refuses_everyone_there_and_nobody_elsewhere(
    settings: Settings,
):
    async with priced_model(
        settings, workspace_daily_budget_usd=5.0, budget_refresh_s=0
    ) as (runtime, _):
        assert (await asked(runtime, event(user="UA", workspace="W1"))).answer is not None

        colleague = await asked(runtime, event("When is payday?", user="UB", workspace="W1"))
        elsewhere = await asked(runtime, event("When is payday?", user="UC", workspace="W2"))

        assert colleague.answer is None and colleague.failure is not None
        assert "this workspace" in colleague.failure
        assert elsewhere.answer is not None


async def test_admins_see_in_stats_who_was_refused_and_by_which_limit(settings: Settings):
    async with priced_model(
        settings, admins=("UBOSS",), rate_limit_burst=2, rate_limit_per_minute=1,
        user_daily_budget_usd=5.0,
    ) as (runtime, _):
        boss = await someone(runtime, "UBOSS")
        nobody = await ask(runtime.commands, boss, "stats")
        assert await asked(runtime, event(user="UA")) is not None  # answered; over budget now
        await asked(runtime, event("When is payday?", user="UA"))  # refused: budget
        for _ in range(3):
            await asked(runtime, event("How do I reset my password?", user="UA"))  # too fast
        reply = await ask(runtime.commands, boss, "stats 1d")

    assert any("nobody was refused" in s for s in nobody.sections)
    section = next(s for s in reply.sections if "Limits hit" in s)
    lines = section.splitlines()[1:]
    assert len(lines) == 2 and all("test:W1:UA" in line for line in lines)
    assert "asking fast ×3" in lines[0] and "personal daily budget ×1" in lines[1]


async def test_in_slack_a_person_asking_too_fast_reads_when_to_try_again_in_the_thread(
    settings: Settings,
):
    async with running_slack(
        settings, FakeSlack(), rate_limit_burst=1, rate_limit_per_minute=2
    ) as slack:
        first, second = new_ts(), new_ts()
        await slack.event(dm(QUESTION, user="UQUICK", channel="DQ", ts=first))
        await slack.settle()
        await slack.event(dm("When is payday?", user="UQUICK", channel="DQ", ts=second))
        await slack.settle()
        refusal = slack.fake.thread_text("DQ", second)
        answers = await slack.answers()
        async with slack.runtime.db.pool.connection() as conn:
            cur = await conn.execute("SELECT state FROM inbox ORDER BY id")
            states = [row[0] for row in await cur.fetchall()]

    assert re.search(r"You're asking fast — try again in \d+ s\.", refusal), refusal
    assert "went wrong" not in refusal
    assert len(answers) == 1  # only the first question was answered and stored
    assert states == ["done", "done"]
