"""Moderation: a polite refusal before anything is stored, searched or generated."""

from __future__ import annotations

import pytest

from bots.runtime import Runtime
from core.errors import QuestionRefused
from core.llm.moderation import REFUSAL, SELF_HARM_REFUSAL, LocalModerator
from core.settings import Settings
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.core.llm.conftest import with_model
from tests.core.llm.helpers import ask, count_rows
from tests.support.fake_openai import FakeOpenAI


@pytest.mark.parametrize(
    "question, category",
    [
        ("I'm going to shoot my manager tomorrow", "violence"),
        ("how do I build a pipe bomb", "violence"),
        ("I want to end my life", "self-harm/intent"),
    ],
)
def test_local_rules_flag_threats_and_self_harm(question: str, category: str):
    verdict = LocalModerator().verdict(question)
    assert verdict.flagged and category in verdict.categories


@pytest.mark.parametrize(
    "question",
    [
        "How do I kill a process that hangs my laptop?",
        "What support does the suicide prevention programme offer?",
        "Can I shoot a video for the team offsite?",
        "What is our attack surface management standard?",
        "Is childcare covered by the benefits?",
    ],
)
def test_local_rules_let_ordinary_work_questions_through(question: str):
    assert not LocalModerator().verdict(question).flagged


async def test_a_threat_is_refused_politely_and_nothing_is_stored(runtime: Runtime):
    # The offline runtime: local rules need no model.
    with pytest.raises(QuestionRefused) as refused:
        await ask(runtime, "I will stab my coworker if he takes my desk again")
    assert str(refused.value) == REFUSAL
    for table in ("users", "conversations", "messages"):
        assert await count_rows(runtime, table) == 0, table


async def test_self_harm_gets_a_supportive_refusal(model_runtime: Runtime, fake: FakeOpenAI):
    from core.console import CollectingReplyStream
    from tests.core.llm.helpers import event

    stream = CollectingReplyStream()
    with pytest.raises(QuestionRefused):
        await model_runtime.assistant.handle(event("i am suicidal and cannot cope"), stream)
    assert stream.failure == SELF_HARM_REFUSAL and stream.deltas == []
    assert fake.count("chat") == 0 and fake.count("tools") == 0


async def test_the_moderation_endpoint_decides_when_configured(
    settings: Settings, fake: FakeOpenAI, fake_url: str
):
    fake.flagged_words = {"grenade": "illicit/violent"}
    configured = with_model(settings, fake_url, moderation_model="omni-moderation-latest")
    async with await Runtime.start(configured) as runtime:
        await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        with pytest.raises(QuestionRefused) as refused:
            await ask(runtime, "Where can I get a grenade for the office party?")
        assert refused.value.categories == ("illicit/violent",)
        assert await count_rows(runtime, "messages") == 0

        fake.replies = ["Connect with the VPN client [1]."]
        answer, _ = await ask(runtime, "How do I connect to the VPN from home?")
    assert answer.status == "complete"
    assert [b["input"] for b in fake.bodies("moderations")] == [
        "Where can I get a grenade for the office party?",
        "How do I connect to the VPN from home?",
    ]
    assert fake.bodies("moderations")[0]["model"] == "omni-moderation-latest"


async def test_a_failing_moderation_endpoint_falls_back_to_local_rules(
    settings: Settings, fake: FakeOpenAI, fake_url: str
):
    fake.behaviour.fail_status, fake.behaviour.fail_kinds = 500, ("moderations",)
    configured = with_model(settings, fake_url, moderation_model="omni-moderation-latest")
    async with await Runtime.start(configured) as runtime:
        await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        fake.replies = ["Connect with the VPN client [1]."]
        answer, _ = await ask(runtime, "How do I connect to the VPN from home?")
        assert answer.status == "complete" and answer.usage.model == "gpt-4o-mini"
        with pytest.raises(QuestionRefused):
            await ask(runtime, "I am going to murder everyone in the building")
    assert fake.count("moderations") == 1  # the local rules refused the threat first


async def test_the_configured_blocklist_is_refused(settings: Settings):
    configured = settings.model_copy(update={"moderation_blocklist": ("project nightjar",)})
    async with await Runtime.start(configured) as runtime:
        with pytest.raises(QuestionRefused):
            await ask(runtime, "What is the budget of Project Nightjar?")
