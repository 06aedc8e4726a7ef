"""Routing with the LLM router behind the fast one: over HTTP, through the whole pipeline."""

from __future__ import annotations

import pytest

from bots.runtime import Runtime
from core.llm.router import TOOL_NAME
from tests.core.llm.helpers import ask, count_rows, stored_answer
from tests.support.fake_openai import FakeOpenAI, PlainText

# One weak word in common with "general", and covered by the documents (a question they do
# not cover, such as bringing a dog, is declined before any answer is generated).
UNSURE = "Can I bring a visitor to the office?"
GOOD_ROUTE = {
    "primary_domain": "documents", "secondary_domains": ["hr"], "confidence": 0.82,
    "needs_clarification": False,
}


async def test_a_sure_fast_router_never_calls_the_model_router(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Use the Lumen VPN client and sign in with MFA [1]."]
    answer, _ = await ask(model_runtime, "How do I connect to the VPN from home?")
    assert answer.route is not None and answer.route.router == "lexical"
    assert answer.route.primary == "it"
    assert fake.count("tools") == 0
    assert fake.count("chat") == 1


async def test_an_unsure_question_is_routed_by_the_model_with_secondary_domains(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.tool_replies = [GOOD_ROUTE]
    fake.replies = ["Visitors sign in at reception [1]."]
    answer, _ = await ask(model_runtime, UNSURE)

    assert answer.route is not None
    assert answer.route.to_dict() == {
        "domains": ["documents", "hr"], "confidence": 0.82, "router": "llm",
    }
    row = await stored_answer(model_runtime, answer.message_id)
    assert row["route"] == {"domains": ["documents", "hr"], "confidence": 0.82, "router": "llm"}
    call = fake.bodies("tools")[0]
    assert call["tool_choice"] == {"type": "function", "function": {"name": TOOL_NAME}}
    schema = call["tools"][0]["function"]["parameters"]["properties"]
    assert set(schema["primary_domain"]["enum"]) == {"hr", "it", "documents", "general"}
    assert UNSURE in call["messages"][-1]["content"]
    # The answer was searched in the chosen domains' documents only.
    assert answer.sources and {p.domain for p in answer.sources} <= {"policy", "hr"}


async def test_a_clarifying_question_is_shown_instead_of_a_guess(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.tool_replies = [{
        "primary_domain": "hr", "confidence": 0.3, "needs_clarification": True,
        "clarification_question": "Do you mean annual leave, sick leave or parental leave?",
    }]
    answer, stream = await ask(model_runtime, "How many days do I get?")

    assert stream.text == "Do you mean annual leave, sick leave or parental leave?"
    assert stream.answer is answer and answer.citations == []
    assert answer.route is not None and answer.route.clarification == stream.text
    assert fake.count("chat") == 0  # nothing was generated from a guess
    row = await stored_answer(model_runtime, answer.message_id)
    assert row["text"] == stream.text
    assert row["route"]["clarification"] == stream.text


@pytest.mark.parametrize(
    "reply",
    [
        '{"primary_domain": "hr", "confidence": 0.9',  # cut-off JSON
        '["hr"]',  # not an object
        {"primary_domain": "finance", "confidence": 0.9, "needs_clarification": False},
        {"primary_domain": "hr", "confidence": "very", "needs_clarification": False},
        {"primary_domain": "hr", "confidence": 1.7, "needs_clarification": False},
        {"confidence": 0.9, "needs_clarification": False},
        {"primary_domain": "hr", "confidence": 0.4, "needs_clarification": True},
        PlainText("I think this is about HR."),
    ],
    ids=["truncated-json", "array", "unknown-domain", "confidence-text", "confidence-1.7",
         "no-primary", "clarification-without-question", "prose-instead-of-call"],
)
async def test_malformed_tool_output_falls_back_to_the_fast_router(
    model_runtime: Runtime, fake: FakeOpenAI, reply: object
):
    fake.tool_replies = [reply]  # type: ignore[list-item]
    fake.replies = ["From the documents [1]."]
    answer, stream = await ask(model_runtime, UNSURE)

    assert answer.status == "complete"
    assert answer.route is not None and answer.route.router == "lexical-fallback"
    assert answer.route.primary == "general"
    assert stream.text == answer.text and stream.failure is None
    assert fake.count("tools") == 1


async def test_json_in_prose_from_a_weak_model_is_accepted_when_valid(
    model_runtime: Runtime, fake: FakeOpenAI
):
    import json

    fake.tool_replies = [PlainText(json.dumps(GOOD_ROUTE))]
    answer, _ = await ask(model_runtime, UNSURE)
    assert answer.route is not None and answer.route.router == "llm"


async def test_a_failing_model_router_falls_back_to_the_fast_router(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.behaviour.fail_status, fake.behaviour.fail_kinds = 500, ("tools",)
    fake.replies = ["From the documents [1]."]
    answer, _ = await ask(model_runtime, UNSURE)
    assert answer.route is not None and answer.route.router == "lexical-fallback"
    assert answer.status == "complete" and answer.usage.model == "gpt-4o-mini"


async def test_a_slow_model_router_is_abandoned_for_the_fast_router(
    model_runtime: Runtime, fake: FakeOpenAI
):
    # The routing timeout is 2 s in these tests; this reply would take 10 s.
    fake.behaviour.tool_delay_s = 10
    fake.tool_replies = [GOOD_ROUTE]
    fake.replies = ["From the documents [1]."]
    answer, _ = await ask(model_runtime, UNSURE)
    assert answer.route is not None and answer.route.router == "lexical-fallback"
    assert answer.status == "complete"
    assert await count_rows(model_runtime, "messages") == 2
