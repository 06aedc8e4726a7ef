"""weekly-prompts against real Postgres: what people see as suggested prompts after a week."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from aiohttp import web

from bots.runtime import Runtime
from jobs.catalog import WEEKLY_PROMPTS
from store.prompts import PromptStore, SuggestedPrompt, week_of
from tests.jobs.conftest import serving, with_model
from tests.jobs.seed import TOPICS, largest, seed_questions, topic_of, week_of_questions
from tests.support.fake_openai import FakeOpenAI


def _key(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip("?.! ")


async def test_a_week_of_300_questions_gives_nine_distinct_prompts_from_the_largest_topics(
    runtime: Runtime,
):
    now = datetime.now(UTC)
    await seed_questions(runtime.db.pool, week_of_questions(), now=now)
    # An old burst of printer questions is not last week's and must not count.
    printer = next(t for t in TOPICS if t.name == "printer")
    old = [(printer, "printer says offline")] * 120
    await seed_questions(runtime.db.pool, old, now=now, days_ago=(8, 20), seed=9)

    assert runtime.jobs is not None
    report = await runtime.jobs.run_now(WEEKLY_PROMPTS)

    assert report.run.outcome == "succeeded", report.run.error
    assert report.run.counts["questions"] == 300 and report.run.counts["prompts"] == 9
    shown = await PromptStore(runtime.db.pool).current()
    assert len(shown) == 9
    assert len({_key(p) for p in shown}) == 9, shown
    assert all(len(p) < 60 for p in shown), shown
    topics = [topic_of(p) for p in shown]
    assert len(set(topics)) == 9, list(zip(shown, topics))
    assert set(topics) == largest(9), list(zip(shown, topics))
    # What the job printed is what is stored, in order.
    assert report.result is not None and report.result.details == shown


async def test_with_too_few_questions_last_weeks_prompts_stay(runtime: Runtime):
    prompts = PromptStore(runtime.db.pool, defaults=("Default one?",))
    last_week = week_of(datetime.now(UTC) - timedelta(days=7))
    kept = [SuggestedPrompt("How do I book a meeting room?"), SuggestedPrompt("Where is the canteen?")]
    await prompts.replace_week(last_week, kept)
    await seed_questions(runtime.db.pool, week_of_questions()[:12], now=datetime.now(UTC))

    assert runtime.jobs is not None
    report = await runtime.jobs.run_now(WEEKLY_PROMPTS)

    assert report.run.outcome == "skipped"
    assert "12 questions" in (report.run.error or "")
    assert await prompts.current() == ["How do I book a meeting room?", "Where is the canteen?",
                                       "Default one?"]


async def test_one_persons_repeated_question_never_becomes_a_prompt(runtime: Runtime):
    now = datetime.now(UTC)
    await seed_questions(runtime.db.pool, week_of_questions(), now=now)
    badge = next(t for t in TOPICS if t.name == "parking")
    # One person asks about their own badge 60 times: the largest group, but one person's.
    await seed_questions(
        runtime.db.pool, [(badge, "why does badge 88231 fail at door B")] * 60, now=now,
        people=1, seed=11,
    )
    assert runtime.jobs is not None
    await runtime.jobs.run_now(WEEKLY_PROMPTS)
    shown = await PromptStore(runtime.db.pool).current()
    assert len(shown) == 9
    assert not any("badge" in p.casefold() for p in shown), shown


class PhrasingModel(FakeOpenAI):
    """A chat model that phrases each numbered group of questions it is sent, by its topic."""

    PHRASES: ClassVar[dict[str, str]] = {
        "password": "How do I reset my password?",
        "vacation": "How many vacation days do I have?",
        "vpn": "How do I connect to the VPN?",
        "expenses": "How do I file an expense report?",
        "payroll": "Where do I find my payslip?",
        "benefits": "What health benefits do we have?",
        "phishing": "How do I report a phishing email?",
        # Too long to show: the group's own most central question is used instead.
        "laptop": "What is the process for ordering a replacement laptop for my work?",
        # A repeat of another group's phrasing, about something else: rejected too.
        "wifi": "How do I report a phishing email?",
    }

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        groups = body["messages"][1]["content"].splitlines()
        phrased = []
        for line in groups:
            topics = Counter(topic_of(q) for q in line.split(". ", 1)[1].split(" | "))
            phrased.append(self.PHRASES.get(topics.most_common(1)[0][0] or "", "Something else?"))
        self.replies.append("Here you are:\n```json\n" + json.dumps({"prompts": phrased}) + "\n```")
        return await super()._chat(request)


async def test_the_model_phrases_prompts_and_bad_phrasings_fall_back_to_real_questions(settings):
    server = PhrasingModel(dimensions=64)
    async with (
        serving(server) as url,
        await Runtime.start(with_model(settings, url, embeddings=False)) as rt,
    ):
        await seed_questions(rt.db.pool, week_of_questions(), now=datetime.now(UTC))
        assert rt.jobs is not None
        report = await rt.jobs.run_now(WEEKLY_PROMPTS)
        shown = await PromptStore(rt.db.pool).current()

    assert report.run.outcome == "succeeded", report.run.error
    chats = [body for kind, body in server.requests if kind == "chat"]
    assert len(chats) == 1
    assert len(shown) == 9 and len({_key(p) for p in shown}) == 9
    assert all(len(p) < 60 for p in shown)
    for topic in ("password", "vacation", "vpn", "expenses", "payroll", "benefits", "phishing"):
        assert PhrasingModel.PHRASES[topic] in shown, (topic, shown)
    assert report.run.counts["phrased_by_model"] == 7
    assert sum(p.casefold().count("phishing") for p in shown) == 1
    assert set(map(topic_of, shown)) == largest(9), shown


async def test_without_a_model_reply_the_central_questions_are_used(settings, fake_openai):
    server, url = fake_openai
    server.behaviour.fail_status = 500
    async with await Runtime.start(with_model(settings, url, embeddings=False)) as rt:
        await seed_questions(rt.db.pool, week_of_questions(), now=datetime.now(UTC))
        assert rt.jobs is not None
        report = await rt.jobs.run_now(WEEKLY_PROMPTS)
        shown = await PromptStore(rt.db.pool).current()
    assert report.run.outcome == "succeeded", report.run.error
    assert report.run.counts["phrased_by_model"] == 0
    assert set(map(topic_of, shown)) == largest(9)


async def test_questions_are_grouped_by_embeddings_when_configured(settings, fake_openai):
    server, url = fake_openai
    async with await Runtime.start(with_model(settings, url, chat=False)) as rt:
        await seed_questions(rt.db.pool, week_of_questions(), now=datetime.now(UTC))
        assert rt.jobs is not None
        report = await rt.jobs.run_now(WEEKLY_PROMPTS)
        shown = await PromptStore(rt.db.pool).current()

    assert report.run.outcome == "succeeded", report.run.error
    assert report.run.counts["embeddings"] == 1
    embedded = [t for kind, body in server.requests if kind == "embeddings" for t in body["input"]]
    assert "How do I reset my password?" in embedded
    # The test server's vectors are hashed words, not meaning: only the path is checked here.
    assert len(shown) == 9 and len({_key(p) for p in shown}) == 9
    assert all(len(p) < 60 for p in shown)
