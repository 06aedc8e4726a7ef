"""Tokens, cost and timings per message, summed per person and per day; `ask --json` shows them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bots.runtime import Runtime
from core.llm.pricing import PriceTable
from core.settings import Settings
from core.tokens import count_messages
from store.usage import PgUsage
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.core.llm.conftest import API_KEY, with_model
from tests.core.llm.helpers import ask, stored_answer
from tests.support.fake_openai import FakeOpenAI

VPN = "How do I connect to the VPN from home?"
REPO = Path(__file__).resolve().parents[3]


def test_prices_match_exact_names_then_the_longest_prefix():
    table = PriceTable({"gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6)})
    assert table.cost("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) == 0.75
    assert table.cost("gpt-4o", 1000, 100) == 0.0035
    assert table.cost("smollm2", 10_000, 10_000) == 0.0


async def test_tokens_cost_and_timings_are_stored_with_the_answer(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.replies = ["Install the VPN client and sign in with MFA [1]."]
    answer, _ = await ask(model_runtime, VPN)
    row = await stored_answer(model_runtime, answer.message_id)

    sent = fake.bodies("chat")[0]["messages"]
    # The fake counts words (+4 a message) for the prompt and words for the reply.
    expected_in = sum(len(m["content"].split()) + 4 for m in sent)
    assert (row["input_tokens"], row["output_tokens"]) == (expected_in, 10)
    assert row["cost_usd"] == Decimal(str(round((expected_in * 0.15 + 10 * 0.60) / 1e6, 6)))
    assert row["model"] == "gpt-4o-mini"
    assert row["ttft_ms"] > 0 and row["total_ms"] >= row["ttft_ms"]
    async with model_runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT user_id FROM messages WHERE conversation_id = %s AND role = 'user'",
            (answer.conversation_id,),
        )
        asker = (await cur.fetchone())[0]
    assert row["user_id"] == asker


async def test_without_usage_from_the_endpoint_tokens_are_counted_here(
    settings: Settings, fake: FakeOpenAI, fake_url: str
):
    fake.replies = ["Install the VPN client [1]."]
    configured = with_model(settings, fake_url, model_stream_usage=False)
    async with await Runtime.start(configured) as runtime:
        await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        answer, _ = await ask(runtime, VPN)
        counter = runtime.model.counter
    sent = fake.bodies("chat")[0]
    assert "stream_options" not in sent
    # Counted as it is built, and the same as counting what was sent afresh.
    whole = count_messages(counter, sent["messages"])
    assert whole > 100 and answer.usage.input_tokens == whole
    assert answer.usage.output_tokens >= 5
    assert answer.usage.cost_usd > 0


async def test_usage_adds_up_per_person_and_per_day(model_runtime: Runtime, fake: FakeOpenAI):
    fake.replies = ["One [1].", "Two words [1].", "Three more words [1]."]
    answers = [
        (await ask(model_runtime, VPN, user="alice"))[0],
        (await ask(model_runtime, "How do I reset my password?", user="alice"))[0],
        (await ask(model_runtime, "How much annual leave do I get?", user="bob"))[0],
    ]
    rows = await PgUsage(model_runtime.db.pool).daily(since=datetime.now(UTC).date())
    assert len(rows) == 2 and all(r.day == datetime.now(UTC).date() for r in rows)
    by_answers = sorted(rows, key=lambda r: r.answers)
    bob, alice = by_answers
    assert (alice.answers, bob.answers) == (2, 1)
    assert alice.input_tokens == answers[0].usage.input_tokens + answers[1].usage.input_tokens
    assert alice.output_tokens == answers[0].usage.output_tokens + answers[1].usage.output_tokens
    assert float(alice.cost_usd) == round(answers[0].usage.cost_usd + answers[1].usage.cost_usd, 6)
    assert bob.output_tokens == answers[2].usage.output_tokens
    only_bob = await PgUsage(model_runtime.db.pool).daily(
        since=datetime.now(UTC).date(), user_id=bob.user_id
    )
    assert only_bob == [bob]


async def test_ask_json_shows_the_route_decision_and_usage(
    database_url: str, tmp_path: Path, fake: FakeOpenAI, fake_url: str
):
    route = {"primary_domain": "documents", "secondary_domains": ["hr"], "confidence": 0.77,
             "needs_clarification": False}
    fake.tool_replies = [route]
    fake.replies = ["Pets are not covered by the policies I can see [1]."]
    env = {
        **{k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "SWITCHBOARD_", "REDIS_", "OPENAI_"))},
        "DATABASE_URL": database_url,
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "OPENAI_BASE_URL": fake_url,
        "OPENAI_API_KEY": API_KEY,
        "SWITCHBOARD_CHAT_MODEL": "gpt-4o-mini",
    }

    async def switchboard(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", *args, env=env, cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode or 0, out.decode(), err.decode()

    code, _, err = await switchboard("ingest", str(SAMPLE_KNOWLEDGE))
    assert code == 0, err
    code, out, err = await switchboard("ask", "--json", "Can I bring a visitor to the office?")
    assert code == 0, err
    data = json.loads(out)
    assert data["route"] == {"domains": ["documents", "hr"], "confidence": 0.77, "router": "llm"}
    assert data["answer"] == "Pets are not covered by the policies I can see [1]."
    assert data["model"] == "gpt-4o-mini"
    # The answer's 11 words plus what the routing call wrote.
    routing_out = len(json.dumps({
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_0123456789", "type": "function",
                        "function": {"name": fake.bodies("tools")[0]["tools"][0]["function"]["name"],
                                     "arguments": json.dumps(route)}}],
    }).split())
    assert data["usage"]["output_tokens"] == 11 + routing_out and data["usage"]["cost_usd"] > 0
    assert data["timings"]["ttft_ms"] > 0


async def test_routing_by_the_model_is_counted_in_the_answers_tokens_and_cost(
    model_runtime: Runtime, fake: FakeOpenAI
):
    fake.tool_replies = [
        {"primary_domain": "documents", "secondary_domains": [], "confidence": 0.8,
         "needs_clarification": False}
    ]
    fake.replies = ["Pets are not covered by the policies I have [1]."]
    answer, _ = await ask(model_runtime, "Can I bring a visitor to the office?")
    assert answer.route is not None and answer.route.router == "llm"
    row = await stored_answer(model_runtime, answer.message_id)

    routing_in = sum(len(m["content"].split()) + 4 for m in fake.bodies("tools")[0]["messages"])
    answer_in = sum(len(m["content"].split()) + 4 for m in fake.bodies("chat")[0]["messages"])
    assert answer.route.input_tokens == routing_in > 0
    assert row["input_tokens"] == routing_in + answer_in
    assert row["output_tokens"] == answer.route.output_tokens + 10
    expected = (row["input_tokens"] * 0.15 + row["output_tokens"] * 0.60) / 1e6
    assert abs(float(row["cost_usd"]) - expected) < 2e-6
