"""A model answer is shown only once checked against its passages, over HTTP with the fake
endpoint: an answer without citations, with a planted figure, in a loop, or slow to start is
each handled as a person would want, and what was streamed is exactly what is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from bots.cli import answer_json
from bots.runtime import Runtime
from core.assistant import MODEL_DOWN, UNCHECKED
from core.llm.prompts import STRICT_NOTE
from core.settings import Settings
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.core.llm.conftest import with_model
from tests.core.llm.helpers import ask, stored_answer
from tests.support.fake_openai import FakeOpenAI

VPN = "How do I connect to the VPN from home?"
CITED = "Install the GlobalProtect VPN client and sign in through the portal [1]."
UNCITED = "You should install a VPN client. Then you can connect from home."


async def runtime_with(settings: Settings, url: str, **overrides: object) -> Runtime:
    runtime = await Runtime.start(with_model(settings, url, **overrides))
    await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
    return runtime


@pytest.fixture
async def reasking_runtime(settings: Settings, fake_url: str) -> AsyncIterator[Runtime]:
    async with await runtime_with(settings, fake_url, grounding_reask=True) as runtime:
        yield runtime


@pytest.fixture
async def strict_runtime(settings: Settings, fake_url: str) -> AsyncIterator[Runtime]:
    async with await runtime_with(settings, fake_url, strict_figures=True) as runtime:
        yield runtime


def metric(runtime: Runtime, name: str, **labels: str) -> float:
    registry: CollectorRegistry = runtime.metrics.registry
    return registry.get_sample_value(name, labels) or 0.0


async def test_an_uncited_answer_is_never_shown_and_the_model_is_asked_again_strictly(
    reasking_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = [UNCITED, CITED]
    answer, stream = await ask(reasking_runtime, VPN)

    assert stream.text == answer.text == CITED  # the first answer never reached the user
    assert "Checking the answer against the documents…" in stream.statuses
    [first, second] = fake.bodies("chat")
    assert STRICT_NOTE not in first["messages"][-1]["content"]
    assert second["messages"][-1]["content"].endswith(STRICT_NOTE)
    # The same prompt up to the question, so a server's prompt cache reads only the note.
    assert second["messages"][:-1] == first["messages"][:-1]
    assert answer.grounding.grounded and answer.grounding.reasked
    assert [c.n for c in answer.citations] == [1]
    shown = answer_json(answer)
    assert shown["grounded"] is True and shown["grounding"]["check"] == "cited"
    row = await stored_answer(reasking_runtime, answer.message_id)
    assert row["text"] == stream.text and row["model"] == "gpt-4o-mini"


async def test_an_answer_uncited_twice_is_replaced_by_the_passages_under_a_notice(
    reasking_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = [UNCITED, UNCITED]
    answer, stream = await ask(reasking_runtime, VPN)

    assert stream.text == answer.text and answer.text.startswith(UNCHECKED)
    assert "You should install" not in answer.text
    assert answer.citations and answer.sources  # what the answer was built from
    assert answer.grounding.check == "replaced" and answer.grounding.reasked
    assert answer.usage.model == "gpt-4o-mini" and answer.usage.output_tokens > 0
    assert answer_json(answer)["grounding"]["check"] == "replaced"
    assert metric(reasking_runtime, "switchboard_generation_stopped_total", reason="uncited") == 2
    assert metric(reasking_runtime, "switchboard_answer_grounding_total", check="replaced") == 1
    # A replaced answer is not cached: the next asker gets a fresh try.
    fake.replies = [CITED]
    again, _ = await ask(reasking_runtime, VPN)
    assert again.text == CITED


async def test_by_default_an_uncited_answer_goes_straight_to_the_passages(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = [UNCITED]
    answer, stream = await ask(model_runtime, VPN)
    assert stream.text == answer.text and answer.text.startswith(UNCHECKED)
    assert "You should install" not in answer.text
    assert answer.citations and answer.sources  # what the answer was built from
    assert fake.count("chat") == 1 and not answer.grounding.reasked
    assert answer_json(answer)["grounded"] is True
    assert answer_json(answer)["grounding"]["check"] == "replaced"


async def test_citations_of_passages_never_given_are_dropped_and_reported(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Use the GlobalProtect portal [1][9]. Sign in with MFA [2][12]."]
    answer, stream = await ask(model_runtime, VPN)
    assert stream.text == answer.text == "Use the GlobalProtect portal [1]. Sign in with MFA [2]."
    assert answer_json(answer)["grounding"]["dropped_citations"] == [9, 12]
    assert {c.n for c in answer.citations} == {1, 2}


async def test_a_planted_figure_is_named_under_the_answer(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Install the VPN client [1]. The VPN allowance is $2,000 a month [1]."]
    answer, stream = await ask(model_runtime, VPN)

    assert stream.text == answer.text
    assert answer.text.startswith("Install the VPN client [1]. The VPN allowance is $2,000")
    assert answer.text.endswith(
        "_Check 2,000 in the sources before relying on it: I could not find it in the passages._"
    )
    assert answer.grounding.unsupported_figures == ("2,000",)
    assert metric(model_runtime, "switchboard_unsupported_figures_total") == 1


async def test_strictly_a_sentence_with_a_planted_figure_is_left_out(
    strict_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Install the VPN client [1]. The VPN allowance is $2,000 a month [1]."]
    answer, stream = await ask(strict_runtime, VPN)
    assert stream.text == answer.text == "Install the VPN client [1]. "
    assert answer.grounding.removed_sentences == 1
    assert answer_json(answer)["grounding"]["unsupported_figures"] == ["2,000"]


async def test_a_loop_ends_the_answer_cleanly_before_the_repetition(
    model_runtime: Runtime, fake: FakeOpenAI
):
    looping = "Open the VPN client [1]. " + "Choose the nearest gateway and sign in. " * 6
    fake.replies = [looping + "Done."]
    answer, stream = await ask(model_runtime, VPN)

    assert stream.text == answer.text
    assert answer.text == "Open the VPN client [1]. Choose the nearest gateway and sign in. "
    assert answer.status == "complete" and answer.grounding.stopped == "repetition"
    assert answer_json(answer)["grounding"]["stopped"] == "repetition"
    assert metric(model_runtime, "switchboard_generation_stopped_total", reason="repetition") == 1
    assert answer.usage.output_tokens < len(looping.split())  # the rest was never paid for


async def test_a_model_decline_without_citations_is_shown_as_it_is(
    model_runtime: Runtime, fake: FakeOpenAI
):
    decline = "I could not find this in the company documents; please ask the IT Help Hub."
    fake.replies = [decline]
    answer, stream = await ask(model_runtime, VPN)
    assert stream.text == answer.text == decline
    assert answer.grounding.check == "declined" and not answer.grounding.grounded
    assert fake.count("chat") == 1


async def test_a_slow_reader_gets_time_for_its_prompt_and_is_never_sent_it_twice(
    settings: Settings, fake: FakeOpenAI, fake_url: str
):
    fake.replies = [CITED]
    fake.behaviour.prompt_tokens_per_s = 1000  # about 1.5 s for this prompt
    async with await runtime_with(
        settings, fake_url, model_first_token_timeout=0.5, model_prompt_tokens_per_s=1000
    ) as runtime:
        answer, stream = await ask(runtime, VPN)

    assert stream.text == answer.text == CITED
    assert stream.statuses[-1] == "Reading 5 passages…"  # shown while the model reads
    assert fake.count("chat") == 1 and fake.peak_prompts_reading == 1


async def test_a_first_token_wait_that_runs_out_is_not_retried_while_the_prompt_is_read(
    settings: Settings, fake: FakeOpenAI, fake_url: str
):
    fake.replies = [CITED, CITED, CITED]
    fake.behaviour.prompt_tokens_per_s = 1000  # about 1.5 s, and no pace configured
    async with await runtime_with(
        settings, fake_url, model_first_token_timeout=0.5, model_retries=2
    ) as runtime:
        answer, stream = await ask(runtime, VPN)

    assert stream.text == answer.text and answer.text.startswith(MODEL_DOWN)
    assert answer.citations
    assert fake.count("chat") == 1 and fake.peak_prompts_reading == 1
