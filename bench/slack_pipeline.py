"""The Slack pipeline under load: N questions at once through signed HTTP events, our server, the
fake Slack Web API (real tiers, 429s) and a fake model with a set time to first token and rate.

Reports, per N: ack latency p50/p99 (event POST → HTTP 200), the latency columns of
``bench/slack_pipeline_model.py`` (event → model request, model's first token → first text and
→ 20 characters, update interval, completion lag), Postgres transactions and CPU ms per answer,
Slack calls per answer, 429s, answers delivered whole, and the bot process's peak memory. The fakes run in a child process, and the events are
signed before the burst and sent from there, so the bot's CPU and memory are its own; both
processes read the same monotonic clock.

    python -m bench.slack_pipeline                     # 10 and 100 questions
    python -m bench.slack_pipeline --questions 10,100,1000 --no-write
    python -m bench.slack_pipeline --redis-url redis://127.0.0.1:6379/0   # pacing in Redis
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import os
import pstats
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from bench import command_line, machine, postgres, table, write_section
from bench.slack_pipeline_model import (
    HEADERS,
    STATS_SETTLE_S,
    BenchModel,
    Delivery,
    Latency,
    Shown,
    cpu_s,
    latency,
    percentile,
    pg_transactions,
    question,
    send_burst,
    serve_bursts,
)
from bots.runtime import Runtime
from bots.server import build_app, settle_heap
from bots.settings import AppSettings as Settings
from bots.slack.http import SLACK
from core.observability import configure_logging

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
TEAM = "T0BENCH"
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "knowledge"
EMBED_DIMENSIONS = 384
TEXT_METHODS = {"chat.startStream", "chat.postMessage"}
# Calls that change the answer on screen.
SHOWN = TEXT_METHODS | {"chat.appendStream", "chat.stopStream", "chat.update"}


# -- the fakes (child process) ----------------------------------------------------------------


def serve_embeddings(app: web.Application, embed_s: float | None) -> None:
    """With ``embed_s``, an embeddings endpoint on ``app``: vectors of the question's words
    (384 numbers, as all-MiniLM-L6-v2 gives), each request answered after ``embed_s``, as a
    hosted endpoint's round trip. Without it, nothing: questions are searched by full text."""
    if embed_s is None:
        return
    from tests.support.fake_openai import FakeOpenAI

    embedder = FakeOpenAI(dimensions=EMBED_DIMENSIONS)
    embedder.behaviour.embedding_latency_s = embed_s
    app.router.add_post("/v1/embeddings", embedder.embeddings)


def embedding_settings(embed_ms: float | None) -> dict[str, Any]:
    """The settings that make the bot search by meaning against ``serve_embeddings``."""
    if embed_ms is None:
        return {}
    return {"embedding_model": "bench-embed", "embedding_dimensions": EMBED_DIMENSIONS}


def serve_fakes(
    window_s: float, ttft_s: float, interval_s: float, tokens: int, ready: multiprocessing.Queue,
    embed_s: float | None = None,
) -> None:
    from tests.support.fake_slack import FakeSlack

    async def main() -> None:
        slack = FakeSlack(window_s=window_s)
        slack.add_workspace(TEAM, TOKEN, bot_user_id="UBOT")
        model = BenchModel(ttft_s, interval_s, tokens)

        async def report(_: web.Request) -> web.Response:
            calls = [
                {
                    "method": c.method,
                    "at": c.at,
                    "status": c.status,
                    "error": c.error,
                    "channel": c.args.get("channel") or c.args.get("channel_id"),
                    "chars": shown_chars(c.args),
                }
                for c in slack.calls
            ]
            complete = sum(
                1
                for messages in slack.messages.values()
                if any(b.get("type") == "context_actions" for m in messages for b in m.blocks)
            )
            return web.json_response({"calls": calls, "model": model.report(), "complete": complete})

        app = slack.app()
        app.router.add_get("/_bench/report", report)
        app.router.add_post("/v1/chat/completions", model.chat)
        serve_embeddings(app, embed_s)
        serve_bursts(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = runner.addresses[0][1]
        slack.set_base_url(f"http://127.0.0.1:{port}")
        ready.put(port)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the load ---------------------------------------------------------------------------------


def reset_peak_memory() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux)
    except OSError:
        pass


def peak_memory_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def signed_headers(body: str) -> dict[str, str]:
    """The headers Slack sends with ``body``: signed with the bench's secret, timed now."""
    ts = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body),
    }


def envelope(n: int) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0BENCH",
        "type": "event_callback",
        "event_id": f"EvB{uuid.uuid4().hex[:12]}",
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": TEAM, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
        ],
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": f"D{n}",
            "user": f"U{n}",
            "text": question(n),
            "ts": f"{int(time.time())}.{n:06d}",
        },
    }


def shown_chars(args: dict[str, Any]) -> int:
    """Characters of answer text a Slack call carries."""
    text = str(args.get("markdown_text") or args.get("text") or "")
    chunks = args.get("chunks") or []
    if isinstance(chunks, str):
        chunks = json.loads(chunks)
    return len(text) + sum(len(c.get("text", "")) for c in chunks if isinstance(c, dict))


def shown_by_question(calls: list[dict[str, Any]]) -> dict[str, list[Shown]]:
    """Per question, each call that changed the answer on screen and the characters shown."""
    shown: dict[str, list[Shown]] = {}
    total: dict[str, int] = {}
    for call in calls:
        channel = call["channel"] or ""
        if call["status"] != 200 or not channel.startswith("D") or call["method"] not in SHOWN:
            continue
        marker = f"q{channel[1:]}"
        if call["method"] == "chat.update":
            total[marker] = max(total.get(marker, 0), call["chars"])
        else:
            total[marker] = total.get(marker, 0) + call["chars"]
        shown.setdefault(marker, []).append(Shown(call["at"], total[marker]))
    return shown


@dataclass
class Result:
    questions: int
    ack_p50: float
    ack_p99: float
    latency: Latency
    calls_per_answer: float
    rate_limited: int
    complete: int
    streamed: int
    pg_per_answer: float
    cpu_ms_per_answer: float
    peak_mib: float
    wall_s: float


def profile_before_model(args: argparse.Namespace) -> asyncio.Task[None]:
    """Profile the bot's process from the burst until 90% of the model's
    time to first token: the work done before the model answers, with nothing streamed yet."""
    profiler = cProfile.Profile(time.process_time)  # CPU, not time spent descheduled
    profiler.enable()

    async def stop() -> None:
        await asyncio.sleep(args.ttft_ms / 1000 * 0.9)
        profiler.disable()
        profiler.dump_stats(args.profile)
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)

    return asyncio.create_task(stop())


async def run(n: int, database_url: str, data_dir: Path, args: argparse.Namespace) -> Result:
    # spawn, not fork: the child must not inherit this process's event loop and pool threads.
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue = context.Queue()
    fakes = context.Process(
        target=serve_fakes,
        args=(args.window_s, args.ttft_ms / 1000, 1 / args.tokens_per_s, args.tokens, ready,
              None if args.embed_ms is None else args.embed_ms / 1000),
        daemon=True,
    )
    fakes.start()
    port = ready.get(timeout=60)
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=data_dir,
        sample_knowledge=None,
        slack_bot_token=SecretStr(TOKEN),
        slack_signing_secret=SecretStr(SECRET),
        slack_api_url=f"{base}/api/",
        openai_base_url=f"{base}/v1",
        openai_api_key=SecretStr("sk-bench"),
        chat_model="gpt-4o-mini",
        answer_cache_ttl=0,
        log_level="WARNING",
        db_pool_min=args.db_pool,
        db_pool_max=args.db_pool,
        redis_url=args.redis_url,
        **embedding_settings(args.embed_ms),
    )
    try:
        async with await Runtime.start(settings) as runtime:
            await runtime.ingestor.ingest([SAMPLE])
            app = build_app(runtime)
            settle_heap()  # as `switchboard serve` does
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
            await site.start()
            events = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
            bot = app[SLACK]

            def delivery(i: int, warm_up: bool = False) -> Delivery:
                payload = envelope(i)
                if warm_up:  # an edit: authorised and acknowledged, never answered
                    payload["event"]["subtype"] = "message_changed"
                body = json.dumps(payload)
                return Delivery(f"q{i}", signed_headers(body), body)

            async with aiohttp.ClientSession() as http:
                # Warm up as a running server would be: bolt's auth.test done, connections
                # open, and one question answered (in its own DM, left out of the columns).
                await send_burst(http, base, events, [delivery(-1, warm_up=True)])
                await send_burst(http, base, events, [delivery(n)])  # beyond the burst's numbers
                await asyncio.sleep(0.05)
                while len(bot.tasks):
                    await asyncio.sleep(0.05)
                await asyncio.sleep(STATS_SETTLE_S)  # every backend has reported the warm-up
                burst = [delivery(i) for i in range(n)]  # signed before the clock starts
                xacts = await pg_transactions(database_url)
                reset_peak_memory()
                cpu = cpu_s()
                started = time.monotonic()
                profiling = profile_before_model(args) if args.profile else None
                sent, acks = await send_burst(http, base, events, burst)
                if profiling is not None:
                    await profiling
                await asyncio.sleep(0.05)
                while len(bot.tasks):
                    await asyncio.sleep(0.05)
                wall = time.monotonic() - started
                cpu = cpu_s() - cpu
                peak = peak_memory_mib()
                await asyncio.sleep(STATS_SETTLE_S)
                xacts = await pg_transactions(database_url) - xacts - 1
                async with http.get(f"{base}/_bench/report") as r:
                    report = await r.json()
            await runner.cleanup()
    finally:
        fakes.terminate()
        fakes.join(10)

    if f"q{n}" not in report["model"]["requested"]:
        print("note: the warm-up question did not reach the model")
    shown = shown_by_question(report["calls"])
    shown.pop(f"q{n}", None)
    answer_calls = [
        c for c in report["calls"] if c["method"] != "auth.test" and c["channel"] != f"D{n}"
    ]
    modelled = sum(1 for q in report["model"]["requested"] if q != f"q{n}")
    if modelled < n:
        print(f"note: {n - modelled} of {n} questions were answered without the model")
    return Result(
        questions=n,
        ack_p50=percentile(acks.values(), 0.5),
        ack_p99=percentile(acks.values(), 0.99),
        latency=latency(sent, report["model"], shown),
        calls_per_answer=len(answer_calls) / n,
        rate_limited=sum(1 for c in report["calls"] if c["status"] == 429),
        complete=report["complete"] - 1,  # the warm-up answer is not counted
        streamed=sum(
            1
            for c in answer_calls
            if c["method"] == "chat.startStream" and c["status"] == 200
        ),
        pg_per_answer=xacts / n,
        cpu_ms_per_answer=cpu * 1000 / n,
        peak_mib=peak,
        wall_s=wall,
    )


def render(results: list[Result], args: argparse.Namespace) -> str:
    rows = [
        (
            r.questions,
            f"{r.ack_p50:.0f} / {r.ack_p99:.0f}",
            *r.latency.cells(),
            f"{r.pg_per_answer:.1f}",
            f"{r.cpu_ms_per_answer:.1f}",
            f"{r.calls_per_answer:.1f}",
            r.rate_limited,
            f"{r.complete}/{r.questions}",
            r.streamed,
            f"{r.peak_mib:.0f}",
            f"{r.wall_s:.1f}",
        )
        for r in results
    ]
    return table(
        [
            "questions at once",
            "ack ms p50 / p99",
            *HEADERS,
            "Postgres tx / answer",
            "CPU ms / answer",
            "Slack calls / answer",
            "429s",
            "answered whole",
            "streamed",
            "peak MiB",
            "wall s",
        ],
        rows,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--questions",
        default="10,100",
        help="comma-separated concurrency levels (e.g. 10,100,1000)",
    )
    parser.add_argument("--ttft-ms", type=float, default=500, help="model time to first token")
    parser.add_argument("--tokens-per-s", type=float, default=30, help="model token rate")
    parser.add_argument("--tokens", type=int, default=120, help="tokens per answer")
    parser.add_argument("--window-s", type=float, default=60, help="Slack's rate-limit window")
    parser.add_argument("--db-pool", type=int, default=20, help="Postgres pool size")
    parser.add_argument("--redis-url", default=None, help="Redis for pacing (default: none)")
    parser.add_argument(
        "--embed-ms", type=float, default=None,
        help="search by meaning too, with a fake embeddings endpoint taking this long a "
        "request (default: full text only)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument(
        "--profile", type=Path, default=None,
        help="cProfile the burst until the model's first token is due (use a long --ttft-ms) "
        "and write the stats here; prints the top functions",
    )
    args = parser.parse_args()
    configure_logging(level="WARNING", json=True)
    levels = [int(x) for x in args.questions.split(",") if x.strip()]
    results = []
    with postgres() as url:
        data_dir = Path("/tmp") / f"sbbench-slack-{uuid.uuid4().hex[:6]}"
        for n in levels:
            result = await run(n, url, data_dir, args)
            results.append(result)
            print(render([result], args), flush=True)
    report = render(results, args)
    print("\n" + report)
    if not args.no_write:
        write_section("Slack pipeline", "\n\n".join([describe(args), report, READING]))


READING = (
    "Reading it: *event → model request* is everything before the model is asked (inbox row, "
    "identity, conversation, routing, retrieval, the coverage check, the prompt). One "
    "process answers as many questions at once as its event loop keeps up with, at most "
    "`SLACK_MAX_ANSWERS` (320; `core/lifecycle/slots.py`); the others wait for a turn after "
    "their ack, which is most of it at 1,000. Below that it is queueing for the one event "
    "loop and the database. *First text* waits "
    "for the first sentence that carries a valid `[n]` citation (the grounding check, "
    "`core/grounding.py`): with this model about 11 tokens, ~370 ms at 30 tokens/s, so "
    "first text and 20 characters arrive together. Only 20 answers a minute per workspace "
    "can stream (Tier 2 `chat.startStream`); the others show a placeholder and are updated, "
    "so at 100 at once most answers have no update while streaming (*update interval* "
    "counts streamed ones only). Numbers move with what else the machine runs: read them "
    "with the load average."
)


def describe(args: argparse.Namespace) -> str:
    setup = (
        f"Every question is a signed `message.im` event from its own user and DM, all in one "
        f"workspace, posted at once to `/slack/events`. The fake model waits {args.ttft_ms:.0f} "
        f"ms, then sends {args.tokens} tokens at {args.tokens_per_s:.0f}/s; the fake Slack Web "
        f"API enforces Slack's tiers over a {args.window_s:.0f} s window (Tier 2 "
        "`chat.startStream`/`stopStream`: 20, Tier 3 `chat.update`: 50, Tier 4 "
        "`chat.appendStream`: 100, `chat.postMessage` ~1/s per channel). Both fakes run in a "
        "process of their own, and the events are signed before the burst and sent from it."
    )
    if args.embed_ms is not None:
        setup += (
            f" Questions are searched by meaning too: the fake embeddings endpoint answers "
            f"each request after {args.embed_ms:.0f} ms."
        )
    columns = (
        "*Ack*: the event POST until HTTP 200 (the inbox row is written before it). *Event → "
        "model request*: the POST until the model receives the answer's request. *Model 1st "
        "token → 1st text / 20 chars*: from the model sending the first token until Slack "
        "receives the first text (`chat.startStream` or the placeholder), and until 20 "
        "characters are on screen. *Update interval*: between calls that change an answer "
        "while the model still writes. *Completion lag*: from the model's last token to the "
        "answer's last Slack call (sources and buttons included). *Postgres tx* "
        "(`pg_stat_database`) and *CPU ms* (the bot process alone) per "
        "answer, over the burst. *Streamed*: answers that got a "
        "`chat.startStream` slot; the others (beyond Tier 2's 20 a minute) were shown as a "
        "placeholder and `chat.update`, or a follow-up message when the update budget was "
        "spent. *Peak MiB*: the bot process's peak RSS during the run."
    )
    load = os.getloadavg()[0]
    return "\n\n".join(
        [f"`{command_line()}` on {machine()}; load average {load:.1f} when it ended.", setup, columns]
    )


if __name__ == "__main__":
    asyncio.run(main())
