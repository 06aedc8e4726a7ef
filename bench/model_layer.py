"""The model layer's cost in time to first token, and what a bad model day costs a user.

Each scenario asks the same few questions through the whole pipeline (real Postgres, the sample
knowledge base) with the model behind a local OpenAI-compatible fake whose latencies are set
here, so the numbers show what our code adds and saves, not a model's speed:

- offline: no model (lexical router, extractive answer)           — the baseline
- sure:    the fast router is sure; the LLM router would take ROUTER_MS — it must not be waited for
- unsure:  the fast router is unsure, so the LLM router's ROUTER_MS is paid before the first token
- cache:   the same questions again, answered from the answer cache
- down:    every model call fails with 500; retries, then the extractive answer
- open:    the circuit breaker is open; the extractive answer at once

With ``--real URL`` it also runs "sure" and "unsure" against a real OpenAI-compatible server
(e.g. the SmolLM2 llama.cpp server of shared/tools/local-models) and counts how often its routing
tool output was unusable and the fast router's decision was kept.

    python -m bench.model_layer [--rounds 3] [--real http://127.0.0.1:8089/v1 --real-model smollm2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence

from pydantic import SecretStr

from bench import REPO, command_line, machine, postgres, table, write_section
from bots.runtime import Runtime
from core.console import CollectingReplyStream
from core.events import ChatEvent, ConversationKind, Person, ThreadRef
from core.settings import Settings
from tests.support.fake_openai import FakeOpenAI, serve_fake

SURE = [
    "How do I connect to the VPN from home?",
    "How much annual leave do associates in Lisbon get?",
    "How do I reset my password?",
    "What is the travel policy for flights and hotels?",
]
UNSURE = [
    "Can I bring my dog to the office?",
    "Who approves it?",
    "Can I expense a laptop for working remotely abroad?",
    "Is there parking?",
]
ROUTER_MS = 300
MODEL_TTFT_MS = 50
ROUTE = {"primary_domain": "general", "confidence": 0.8, "needs_clarification": False}


def event(text: str) -> ChatEvent:
    thread = uuid.uuid4().hex
    return ChatEvent(
        person=Person(platform="bench", workspace_id="W", user_id="U"),
        thread=ThreadRef(platform="bench", workspace_id="W", channel_id="D", thread_id=thread,
                         kind=ConversationKind.DM),
        text=text,
    )


async def ask_all(
    runtime: Runtime, questions: Sequence[str], *, uncached: bool = False
) -> list[tuple[float, float, str, str]]:
    """(ttft ms, total ms, router, model) per question, timed from the caller's side."""
    results = []
    for question in questions:
        if uncached and runtime.answer_cache is not None:
            await runtime.answer_cache.invalidate()
        stream = CollectingReplyStream()
        started = time.perf_counter()
        answer = await runtime.assistant.handle(event(question), stream)
        total = (time.perf_counter() - started) * 1000
        ttft = answer.usage.ttft_ms or total
        results.append((ttft, total, answer.route.router if answer.route else "-",
                        answer.usage.model or "-"))
    return results


def row(name: str, results: list[tuple[float, float, str, str]]) -> list[object]:
    ttfts = [r[0] for r in results]
    totals = [r[1] for r in results]
    routers = sorted({r[2] for r in results})
    models = sorted({r[3] for r in results})
    return [
        name, len(results), f"{statistics.median(ttfts):.0f}", f"{max(ttfts):.0f}",
        f"{statistics.median(totals):.0f}", ", ".join(routers), ", ".join(models),
    ]


async def run(args: argparse.Namespace) -> None:
    fake = FakeOpenAI(default_reply="Here is the answer from the documents [1].")
    fake.behaviour.ttft_s = MODEL_TTFT_MS / 1000
    fake.behaviour.tool_delay_s = ROUTER_MS / 1000
    rows: list[list[object]] = []
    real_note = ""
    with postgres(args.database_url) as url:
        base = Settings(_env_file=None, database_url=SecretStr(url), sample_knowledge=None,
                        jobs_enabled=False)
        async with serve_fake(fake) as fake_url:
            model = base.model_copy(update={
                "openai_base_url": fake_url, "openai_api_key": SecretStr("bench"),
                "chat_model": "gpt-4o-mini", "model_backoff_base": 0.05,
                "breaker_failures": 1000,
            })
            async with await Runtime.start(base) as offline:
                await offline.ingestor.ingest([REPO / "examples" / "knowledge"])
                await ask_all(offline, SURE + UNSURE)  # warm Postgres up; not counted
                rows.append(row("offline", await ask_all(offline, SURE * args.rounds)))
            async with await Runtime.start(model) as runtime:
                rows.append(row("sure", await ask_all(runtime, SURE * args.rounds, uncached=True)))
                fake.tool_replies = [ROUTE] * (len(UNSURE) * args.rounds)
                rows.append(
                    row("unsure", await ask_all(runtime, UNSURE * args.rounds, uncached=True))
                )
                await ask_all(runtime, SURE)  # fills the cache
                rows.append(row("cache", await ask_all(runtime, SURE * args.rounds)))
                fake.behaviour.fail_status = 500
                rows.append(row("down", await ask_all(runtime, SURE * args.rounds, uncached=True)))
            opened = model.model_copy(update={"breaker_failures": 1, "breaker_cooldown": 600,
                                              "model_retries": 0})
            async with await Runtime.start(opened) as runtime:
                await ask_all(runtime, SURE[:1])  # one failure opens the circuit
                rows.append(row("open", await ask_all(runtime, SURE * args.rounds)))
        if args.real:
            real = base.model_copy(update={
                "openai_base_url": args.real, "openai_api_key": SecretStr("local"),
                "chat_model": args.real_model, "model_first_token_timeout": 60.0,
                "router_timeout": 30.0, "answer_cache_ttl": 0,
                # A small model's context (4,096 tokens for the SmolLM2 server) holds less.
                "passage_tokens": args.real_passage_tokens, "max_answer_tokens": 300,
            })
            async with await Runtime.start(real) as runtime:
                rows.append(row(f"real sure ({args.real_model})", await ask_all(runtime, SURE)))
                unsure = await ask_all(runtime, UNSURE)
                rows.append(row(f"real unsure ({args.real_model})", unsure))
            kept = sum(1 for r in unsure if r[2].endswith("-fallback"))
            real_note = (
                f"\n\n*real*: `{args.real_model}` at {args.real}, no cache. For {kept} of "
                f"{len(unsure)} unsure questions its routing tool output was unusable (malformed "
                "JSON, out-of-range confidence, clarification without a question…) and the fast "
                "router's decision was kept; every question was answered."
            )
    headers = ["scenario", "questions", "ttft p50 ms", "ttft max ms", "total p50 ms", "router",
               "answered by"]
    report = table(headers, rows)
    print(report)
    if not args.no_write:
        write_section(
            "Model layer: time to first token on a good and a bad model day",
            f"`{command_line()}` on {machine()}.\n\n"
            f"Fake model: first token after {MODEL_TTFT_MS} ms; the LLM router's tool call takes "
            f"{ROUTER_MS} ms. Times are from the question arriving to the first text (ttft) and "
            "to the stored answer (total), through real Postgres and the sample knowledge base."
            f"\n\n{report}\n\n"
            "Read: *sure* pays no router time (the LLM router is never called); *unsure* pays it "
            "once; *cache* skips retrieval and the model; *down* pays the retries (two, backoff "
            "0.05 s doubling, with jitter) and answers extractively; *open* answers extractively "
            "at offline speed without calling the endpoint." + real_note,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--real", default=None, help="base URL of a real OpenAI-compatible server")
    parser.add_argument("--real-model", default="smollm2")
    parser.add_argument("--real-passage-tokens", type=int, default=1500)
    parser.add_argument("--no-write", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
