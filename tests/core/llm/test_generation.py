"""Grounded, streamed answers from the model: the prompt it gets and the answer users see."""

from __future__ import annotations

import re

from bots.runtime import Runtime
from core.llm.prompts import PromptBudget
from core.settings import Settings
from core.tokens import estimate_tokens
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.core.llm.conftest import with_model
from tests.core.llm.helpers import ask
from tests.support.fake_openai import FakeOpenAI

VPN = "How do I connect to the VPN from home?"


async def test_the_model_gets_the_persona_rules_and_numbered_delimited_passages(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Install the VPN client [1]. Then sign in with MFA [1]."]
    answer, stream = await ask(model_runtime, VPN)

    messages = fake.bodies("chat")[0]["messages"]
    system, last = messages[0]["content"], messages[-1]["content"]
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    assert "IT Help Hub's assistant" in system  # the IT domain's persona
    assert "[1]" in system and "only the numbered passages" in system
    assert "the IT Help Hub" in system  # where to send the user when the passages say nothing
    numbers = re.findall(r'<passage n="(\d+)"', last)
    assert numbers == [str(n) for n in range(1, len(answer.sources) + 1)]
    assert last.count("</passage>") == len(answer.sources)
    assert last.rstrip().endswith(f"Question: {VPN}")
    assert any(p.path and p.path.endswith("vpn-remote-access.html") for p in answer.sources)
    # The user saw the model's sentences as they came, and ends with the same text.
    assert answer.status == "complete" and stream.answer is answer
    assert stream.text == answer.text == "Install the VPN client [1]. Then sign in with MFA [1]."
    # Shown sentence by sentence, each as soon as it is checked.
    assert [d.strip() for d in stream.deltas if d.strip()] == [
        "Install the VPN client [1].", "Then sign in with MFA [1]."
    ]
    assert [c.n for c in answer.citations] == [1]
    assert answer.citations[0].title == answer.sources[0].title


async def test_citations_of_passages_that_were_not_retrieved_are_removed(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Use the VPN client [1]. Ask the desk for a token [9][2]."]
    answer, _ = await ask(model_runtime, VPN)
    assert "[9]" not in answer.text
    assert answer.text == "Use the VPN client [1]. Ask the desk for a token[2]."
    assert [c.n for c in answer.citations] == [1, 2]


async def test_with_nothing_relevant_it_says_so_and_suggests_where_to_ask(
    model_runtime: Runtime, fake: FakeOpenAI
):
    answer, stream = await ask(model_runtime, "zxqv plorth quibblewick")
    assert answer.sources == [] and answer.citations == []
    assert "couldn't find anything" in stream.text and "won't guess" in stream.text
    assert "the IT Help Hub" in stream.text  # the fallback domain's contact
    assert fake.count("chat") == 0  # nothing to ground an answer in, so nothing invented


async def test_history_goes_in_newest_first_within_the_token_budget(
    settings: Settings, fake: FakeOpenAI, fake_url: str
):
    # Forty different words: the same word forty times would be stopped as a loop.
    long_reply = " ".join(f"w{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(40))
    fake.replies = [f"ALPHA {long_reply} [1].", f"BRAVO {long_reply} [1].", "CHARLIE [1]."]
    budget = 80  # one question and its answer fit; two do not
    configured = with_model(settings, fake_url, history_tokens=budget)
    async with await Runtime.start(configured) as runtime:
        await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        await ask(runtime, "How do I reset my password?", thread="T-budget")
        await ask(runtime, "And if I am locked out of my account?", thread="T-budget")
        await ask(runtime, "What about resetting MFA on my phone?", thread="T-budget")

    third = fake.bodies("chat")[2]["messages"]
    history = third[1:-1]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == "And if I am locked out of my account?"
    assert history[1]["content"].startswith("BRAVO")
    assert sum(estimate_tokens(m["content"]) + 4 for m in history) <= budget
    assert not any("ALPHA" in m["content"] for m in third)  # the oldest turn was dropped


async def test_passages_beyond_the_token_budget_are_left_out_and_never_cited(
    settings: Settings, fake: FakeOpenAI, fake_url: str
):
    fake.replies = ["See [1] and [2]."]
    configured = with_model(settings, fake_url, passage_tokens=200)
    assert PromptBudget().passage_tokens > 200
    async with await Runtime.start(configured) as runtime:
        await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        answer, _ = await ask(runtime, VPN)
    prompt = fake.bodies("chat")[0]["messages"][-1]["content"]
    assert prompt.count("<passage ") == len(answer.sources) == 1
    assert answer.text == "See [1] and."
    assert [c.n for c in answer.citations] == [1]
