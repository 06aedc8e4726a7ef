"""The answer cache: the same question within a domain is answered once, until a re-ingest."""

from __future__ import annotations

from pydantic import SecretStr

from bots.runtime import Runtime
from core.llm.cache import MemoryAnswerCache, normalize_question
from core.settings import Settings
from store.answer_cache import RedisAnswerCache
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.core.llm.conftest import with_model
from tests.core.llm.helpers import ask, stored_answer
from tests.support.fake_openai import FakeOpenAI

VPN = "How do I connect to the VPN from home?"
# Unsure for the lexical router, and covered by both HR and policy documents.
UNSURE = "Which travel expenses can I claim for a work trip?"


def test_questions_that_differ_only_in_case_spacing_and_punctuation_are_the_same():
    assert normalize_question("How do I reset my password?") == normalize_question(
        "  how do i RESET my   password "
    )
    assert normalize_question("reset password") != normalize_question("reset my password")


async def test_a_repeated_question_is_answered_from_the_cache(
    model_runtime: Runtime, fake: FakeOpenAI
):
    assert isinstance(model_runtime.answer_cache, MemoryAnswerCache)
    fake.replies = ["Install the VPN client and sign in [1]."]
    first, _ = await ask(model_runtime, VPN, user="U1")
    second, stream = await ask(model_runtime, "how do i connect to the vpn from home", user="U2")

    assert fake.count("chat") == 1
    assert stream.text == second.text == first.text
    assert [c.to_dict() for c in second.citations] == [c.to_dict() for c in first.citations]
    assert [p.chunk_id for p in second.sources] == [p.chunk_id for p in first.sources]
    assert second.usage.model == "cache" and second.usage.cost_usd == 0
    row = await stored_answer(model_runtime, second.message_id)
    assert row["model"] == "cache" and row["text"] == first.text and row["citations"]


async def test_the_same_words_routed_to_another_domain_are_not_served_from_the_cache(
    model_runtime: Runtime, fake: FakeOpenAI
):
    route = {"confidence": 0.9, "needs_clarification": False}
    fake.tool_replies = [{"primary_domain": "hr", **route}, {"primary_domain": "documents", **route}]
    fake.replies = ["Ask the People Team [1].", "The policy does not mention pets [1]."]
    first, _ = await ask(model_runtime, UNSURE)
    second, _ = await ask(model_runtime, UNSURE)
    assert fake.count("chat") == 2
    assert first.text != second.text


async def test_a_re_ingest_invalidates_the_cache(model_runtime: Runtime, fake: FakeOpenAI):
    fake.replies = ["Old answer [1].", "New answer [1]."]
    await ask(model_runtime, VPN)
    assert model_runtime.answer_cache is not None
    await model_runtime.answer_cache.invalidate()
    again, _ = await ask(model_runtime, VPN)
    assert again.text == "New answer [1]." and fake.count("chat") == 2


async def test_a_follow_up_in_a_thread_is_never_answered_from_the_cache(
    model_runtime: Runtime, fake: FakeOpenAI
):
    follow_up = "And how do I connect to the VPN from home?"
    fake.replies = ["Reset it in the portal [1].", "Use the VPN client [1].", "In a thread [1]."]
    await ask(model_runtime, follow_up)  # cached, asked on its own
    await ask(model_runtime, "How do I reset my password?", thread="T-thread")
    follow, _ = await ask(model_runtime, follow_up, thread="T-thread")
    assert follow.text == "In a thread [1]." and fake.count("chat") == 3


async def test_a_question_standing_on_its_own_in_a_long_conversation_is_answered_from_the_cache(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Use the VPN client [1].", "Reset it in the portal [1]."]
    await ask(model_runtime, VPN)  # cached, asked on its own
    await ask(model_runtime, "How do I reset my password?", thread="T-chat")
    again, _ = await ask(model_runtime, VPN, thread="T-chat")
    assert again.text == "Use the VPN client [1]." and again.usage.model == "cache"
    assert fake.count("chat") == 2


async def test_answers_from_the_fallback_or_cut_streams_are_not_cached(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.behaviour.fail_status = 500
    await ask(model_runtime, VPN)
    fake.behaviour.fail_status = None
    fake.replies = ["One two [1]. Three four five [1].", "The full answer [1]."]
    fake.behaviour.cut_after_tokens = 4
    cut, _ = await ask(model_runtime, VPN)
    assert cut.status == "incomplete"
    fake.behaviour.cut_after_tokens = None
    full, _ = await ask(model_runtime, VPN)
    assert full.text == "The full answer [1]." and full.usage.model == "gpt-4o-mini"


async def test_replicas_share_the_redis_cache_and_its_invalidation(
    settings: Settings, fake: FakeOpenAI, fake_url: str, redis_url: str
):
    configured = with_model(settings, fake_url, redis_url=SecretStr(redis_url))
    fake.replies = ["Install the VPN client [1].", "Fresh after re-ingest [1]."]
    async with await Runtime.start(configured) as one, await Runtime.start(configured) as two:
        await one.answer_cache.invalidate()  # type: ignore[union-attr]  # a clean slate in a shared Redis
        assert isinstance(one.answer_cache, RedisAnswerCache)
        await one.ingestor.ingest([SAMPLE_KNOWLEDGE])
        first, _ = await ask(one, VPN)
        second, _ = await ask(two, VPN)
        assert second.text == first.text and second.usage.model == "cache"
        assert fake.count("chat") == 1

        await one.answer_cache.invalidate()  # type: ignore[union-attr]
        third, _ = await ask(two, VPN)
        assert third.text == "Fresh after re-ingest [1]." and fake.count("chat") == 2
