"""A bad model day through the whole pipeline: nothing hangs, nothing is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bots.runtime import Runtime
from core.assistant import INTERRUPTED, MODEL_DOWN
from core.settings import Settings
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.core.llm.conftest import with_model
from tests.core.llm.helpers import ask, stored_answer
from tests.support.fake_openai import FakeOpenAI

VPN = "How do I connect to the VPN from home?"
LEAVE = "How much annual leave do associates in Lisbon get?"


@pytest.fixture
async def fragile_runtime(
    settings: Settings, fake_url: str
) -> AsyncIterator[Runtime]:
    """No retries and a circuit that opens after two failures."""
    configured = with_model(
        settings, fake_url, model_retries=0, breaker_failures=2, breaker_cooldown=600
    )
    async with await Runtime.start(configured) as runtime:
        await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        yield runtime


async def test_model_down_gives_the_documents_answer_with_sources_and_a_notice(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.behaviour.fail_status = 500
    answer, stream = await ask(model_runtime, VPN)

    assert answer.status == "complete" and stream.failure is None
    assert stream.text == answer.text
    assert answer.text.startswith(MODEL_DOWN)
    assert answer.text.count("\n") >= 3  # the notice is one line, then the passages
    assert answer.citations and any(
        c.path and c.path.endswith("vpn-remote-access.html") for c in answer.citations
    )
    assert answer.usage.model == "extractive"
    assert fake.count("chat") == 3  # the first try and two retries, then no more waiting
    row = await stored_answer(model_runtime, answer.message_id)
    assert row["status"] == "complete" and row["model"] == "extractive"
    assert row["text"] == answer.text


async def test_a_stream_cut_midway_is_finished_with_a_note_and_marked_incomplete(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Open the Lumen VPN client [1]. Choose the Leeds gateway and sign in [1]."]
    fake.behaviour.cut_after_tokens = 7
    answer, stream = await ask(model_runtime, VPN)

    assert answer.status == "incomplete"
    assert answer.text == "Open the Lumen VPN client [1]. Choose " + INTERRUPTED
    assert stream.text == answer.text  # what was shown is kept, then the note
    assert stream.answer is answer and stream.failure is None
    assert answer.usage.output_tokens > 0  # the partial answer still counts
    row = await stored_answer(model_runtime, answer.message_id)
    assert row["status"] == "incomplete" and row["text"] == answer.text
    assert fake.count("chat") == 1


async def test_a_stalled_stream_is_finished_with_a_note_instead_of_hanging(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Open the client [1]. Then wait for the green light [1]."]
    fake.behaviour.stall_after_tokens = 6  # idle timeout is 2 s in these tests
    answer, _ = await ask(model_runtime, VPN)
    assert answer.status == "incomplete"
    assert answer.text == "Open the client [1]. Then wait " + INTERRUPTED


async def test_a_stream_cut_before_anything_checked_was_shown_gives_the_documents_answer(
    model_runtime: Runtime, fake: FakeOpenAI
):
    # "Quokka" is in no document: only the model's unchecked sentence could show it.
    fake.replies = ["Open Quokka, the VPN client, choose the Leeds gateway and sign in [1]."]
    fake.behaviour.cut_after_tokens = 5
    answer, stream = await ask(model_runtime, VPN)

    assert answer.status == "complete" and answer.text.startswith(MODEL_DOWN)
    assert "Quokka" not in stream.text  # the unchecked start of the sentence never showed
    assert stream.text == answer.text and answer.citations


async def test_an_unanswered_request_times_out_to_the_documents_answer(
    settings: Settings, fake: FakeOpenAI, fake_url: str
):
    fake.behaviour.ttft_s = 10
    configured = with_model(settings, fake_url, model_first_token_timeout=0.5, model_retries=0)
    async with await Runtime.start(configured) as runtime:
        await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        answer, _ = await ask(runtime, VPN)
    assert answer.status == "complete" and answer.text.startswith(MODEL_DOWN)
    assert answer.citations


async def test_rate_limits_are_retried_and_the_user_sees_one_answer(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Connect with the VPN client [1]."]
    fake.behaviour.fail_status, fake.behaviour.fail_times = 429, 2
    answer, stream = await ask(model_runtime, VPN)
    assert answer.status == "complete" and answer.usage.model == "gpt-4o-mini"
    assert stream.text == answer.text == "Connect with the VPN client [1]."
    assert fake.count("chat") == 3


async def test_an_open_circuit_answers_from_the_documents_without_calling_the_model(
    fragile_runtime: Runtime, fake: FakeOpenAI
):
    fake.behaviour.fail_status = 503
    for question in (VPN, LEAVE):
        answer, _ = await ask(fragile_runtime, question)
        assert answer.text.startswith(MODEL_DOWN)
    assert fake.count("chat") == 2

    fake.behaviour.fail_status = None  # the endpoint recovers, but the cooldown is not over
    answer, stream = await ask(fragile_runtime, "How do I reset my password?")
    assert fake.count("chat") == 2
    assert answer.text.startswith(MODEL_DOWN) and answer.citations
    assert stream.failure is None


async def test_an_empty_model_answer_falls_back_to_the_documents(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = [""]
    answer, _ = await ask(model_runtime, VPN)
    assert answer.text.startswith(MODEL_DOWN) and answer.citations
