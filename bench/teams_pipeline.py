"""The Teams pipeline under load: N personal chats asking at once through signed activities, our
server, the fake Bot Connector (Teams' streaming rules, 1 request a second per stream, 429s) and
a fake model with a set time to first token and token rate.

Reports, per N: ack latency p50/p99 (activity POST → HTTP 200, the Bot Connector JWT checked
and the inbox row written), time to the informative update, our overhead from the model's first
token to the first streamed text Teams receives (p50/p99), Bot Connector calls per answer,
429s, answers finished (final message received), and the bot process's peak memory. The fakes
(Bot Connector, OpenID keys, Entra ID, model) run in a child process, and the activities are
built before the burst and sent from there, so the bot's CPU and memory are its own; both
processes read the same monotonic clock.

    python -m bench.teams_pipeline                     # 10 and 100 chats
    python -m bench.teams_pipeline --chats 10,100,500 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from bench import command_line, machine, postgres, table, write_section
from bench.slack_pipeline import (
    embedding_settings,
    peak_memory_mib,
    reset_peak_memory,
    serve_embeddings,
)
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
from bots.teams import TEAMS
from core.observability import configure_logging

APP_ID = "11111111-2222-3333-4444-555555555555"
TENANT = "bench-tenant"
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "knowledge"


# -- the fakes (child process) ----------------------------------------------------------------


def serve_fakes(
    key_pem: bytes,
    tls: tuple[str, str],
    ttft_s: float,
    interval_s: float,
    tokens: int,
    pace_s: float,
    ready: multiprocessing.Queue,
    embed_s: float | None = None,
) -> None:
    from tests.support.fake_connector import FakeConnector
    from tests.support.fake_openid import FakeBotFrameworkOpenId, FakeEntra, server_tls

    async def main() -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        openid = FakeBotFrameworkOpenId(key=key)  # type: ignore[arg-type]
        connector = FakeConnector(min_interval_s=pace_s)
        entra = FakeEntra()
        model = BenchModel(ttft_s, interval_s, tokens)

        async def report(_: web.Request) -> web.Response:
            calls = [
                {
                    "conversation": r.conversation_id,
                    "at": r.at,
                    "status": r.status,
                    "kind": (r.stream_info or {}).get("streamType"),
                    "chars": len(str(r.body.get("text") or "")),
                }
                for r in connector.requests
            ]
            finals = sum(1 for s in connector.streams.values() if s.final is not None)
            return web.json_response(
                {
                    "calls": calls,
                    "model": model.report(),
                    "finals": finals,
                    "tokens": len(entra.issued),
                }
            )

        app = connector.app()
        app.add_subapp("/openid/", openid.app())
        app.router.add_get("/_bench/report", report)
        app.router.add_post("/v1/chat/completions", model.chat)
        serve_embeddings(app, embed_s)
        serve_bursts(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = runner.addresses[0][1]
        connector.base_url = f"http://127.0.0.1:{port}"
        openid.base_url = f"http://127.0.0.1:{port}/openid"
        login = web.AppRunner(entra.app(), access_log=None)
        await login.setup()
        secure = web.TCPSite(
            login, "127.0.0.1", 0, ssl_context=server_tls(Path(tls[0]), Path(tls[1]))
        )
        await secure.start()
        entra.base_url = f"https://127.0.0.1:{login.addresses[0][1]}"
        ready.put((port, entra.base_url))
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the load ---------------------------------------------------------------------------------


def activity(n: int, base: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"1{uuid.uuid4().int % 10**12:012d}",
        "serviceUrl": base,
        "channelId": "msteams",
        "from": {"id": f"29:u{n}", "name": f"User {n}", "aadObjectId": f"aad-{n}"},
        "conversation": {"id": f"a:bench-{n}", "conversationType": "personal", "tenantId": TENANT},
        "recipient": {"id": "28:bench-bot", "name": "Switchboard"},
        "textFormat": "plain",
        "text": question(n),
        "channelData": {"tenant": {"id": TENANT}},
    }


def shown_by_question(calls: list[dict[str, Any]]) -> dict[str, list[Shown]]:
    """Per question, each request that changed the answer on screen (a streamed chunk, the
    final message, a posted or edited message) and the characters it showed."""
    shown: dict[str, list[Shown]] = {}
    for call in calls:
        if call["status"] >= 400 or call["kind"] == "informative":
            continue
        marker = "q" + call["conversation"].removeprefix("a:bench-")
        shown.setdefault(marker, []).append(Shown(call["at"], call["chars"]))
    return shown


@dataclass
class Result:
    chats: int
    ack_p50: float
    ack_p99: float
    informative_p50: float
    latency: Latency
    calls_per_answer: float
    rate_limited: int
    finished: int
    pg_per_answer: float
    cpu_ms_per_answer: float
    peak_mib: float
    wall_s: float


async def run(n: int, database_url: str, data_dir: Path, args: argparse.Namespace) -> Result:
    from tests.support.fake_openid import FakeBotFrameworkOpenId, self_signed_certificate

    openid = FakeBotFrameworkOpenId()
    key_pem = openid.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert, key = self_signed_certificate(Path(tempfile.mkdtemp(prefix="sbbench-tls-")))
    os.environ["REQUESTS_CA_BUNDLE"] = str(cert)  # msal (requests) trusts the fake Entra ID
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue = context.Queue()
    fakes = context.Process(
        target=serve_fakes,
        args=(
            key_pem,
            (str(cert), str(key)),
            args.ttft_ms / 1000,
            1 / args.tokens_per_s,
            args.tokens,
            args.pace_s,
            ready,
            None if args.embed_ms is None else args.embed_ms / 1000,
        ),
        daemon=True,
    )
    fakes.start()
    port, entra_url = ready.get(timeout=60)
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=data_dir,
        sample_knowledge=None,
        microsoft_app_id=APP_ID,
        microsoft_app_password=SecretStr("bench-secret"),
        microsoft_app_tenant_id=TENANT,
        entra_authority_host=entra_url,
        teams_openid_metadata_url=f"{base}/openid/v1/.well-known/openidconfiguration",
        teams_stream_interval=args.pace_s,
        openai_base_url=f"{base}/v1",
        openai_api_key=SecretStr("sk-bench"),
        chat_model="gpt-4o-mini",
        answer_cache_ttl=0,
        log_level="WARNING",
        db_pool_min=args.db_pool,
        db_pool_max=args.db_pool,
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
            ours = f"http://127.0.0.1:{runner.addresses[0][1]}/api/messages"
            teams = app[TEAMS]
            token = openid.mint(audience=APP_ID, service_url=base)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

            def delivery(i: int) -> Delivery:
                return Delivery(f"q{i}", headers, json.dumps(activity(i, base)))

            async with aiohttp.ClientSession() as http:
                # Warm up as a running server would be: signing keys fetched, bot token held,
                # one question answered (in a chat of its own, left out of the columns).
                await send_burst(http, base, ours, [delivery(n)])
                await teams.idle()
                await asyncio.sleep(STATS_SETTLE_S)  # every backend has reported the warm-up
                burst = [delivery(i) for i in range(n)]  # built before the clock starts
                xacts = await pg_transactions(database_url)
                reset_peak_memory()
                cpu = cpu_s()
                started = time.monotonic()
                sent, acks = await send_burst(http, base, ours, burst)
                await teams.idle()
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

    warm = f"a:bench-{n}"
    calls = [c for c in report["calls"] if c["conversation"] != warm]
    informative: dict[str, float] = {}
    for call in calls:
        if call["status"] < 400 and call["kind"] == "informative":
            informative.setdefault(call["conversation"], call["at"])
    shown = shown_by_question(calls)
    modelled = sum(1 for q in report["model"]["requested"] if q != f"q{n}")
    if modelled < n:
        print(f"note: {n - modelled} of {n} questions were answered without the model")
    status_shown = [
        (at - sent["q" + c.removeprefix("a:bench-")]) * 1000 for c, at in informative.items()
    ]
    return Result(
        chats=n,
        ack_p50=percentile(acks.values(), 0.5),
        ack_p99=percentile(acks.values(), 0.99),
        informative_p50=percentile(status_shown, 0.5),
        latency=latency(sent, report["model"], shown),
        calls_per_answer=len(calls) / n,
        rate_limited=sum(1 for c in calls if c["status"] == 429),
        finished=report["finals"] - 1,  # the warm-up answer is not counted
        pg_per_answer=xacts / n,
        cpu_ms_per_answer=cpu * 1000 / n,
        peak_mib=peak,
        wall_s=wall,
    )


def render(results: list[Result]) -> str:
    rows = [
        (
            r.chats,
            f"{r.ack_p50:.0f} / {r.ack_p99:.0f}",
            f"{r.informative_p50:.0f}",
            *r.latency.cells(),
            f"{r.pg_per_answer:.1f}",
            f"{r.cpu_ms_per_answer:.1f}",
            f"{r.calls_per_answer:.1f}",
            r.rate_limited,
            f"{r.finished}/{r.chats}",
            f"{r.peak_mib:.0f}",
            f"{r.wall_s:.1f}",
        )
        for r in results
    ]
    return table(
        [
            "chats at once",
            "ack ms p50 / p99",
            "status shown ms p50",
            *HEADERS,
            "Postgres tx / answer",
            "CPU ms / answer",
            "connector calls / answer",
            "429s",
            "finished",
            "peak MiB",
            "wall s",
        ],
        rows,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", default="10,100", help="comma-separated concurrency levels")
    parser.add_argument("--ttft-ms", type=float, default=500, help="model time to first token")
    parser.add_argument("--tokens-per-s", type=float, default=30, help="model token rate")
    parser.add_argument("--tokens", type=int, default=120, help="tokens per answer")
    parser.add_argument(
        "--pace-s",
        type=float,
        default=1.0,
        help="Teams' minimum gap between requests of one stream",
    )
    parser.add_argument("--db-pool", type=int, default=20, help="Postgres pool size")
    parser.add_argument(
        "--embed-ms", type=float, default=None,
        help="search by meaning too, with a fake embeddings endpoint taking this long a "
        "request (default: full text only)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    configure_logging(level="WARNING", json=True)
    levels = [int(x) for x in args.chats.split(",") if x.strip()]
    load = os.getloadavg()[0]  # the machine may be shared; say how busy it was
    results = []
    with postgres() as url:
        data_dir = Path("/tmp") / f"sbbench-teams-{uuid.uuid4().hex[:6]}"
        for n in levels:
            result = await run(n, url, data_dir, args)
            results.append(result)
            print(render([result]), flush=True)
    report = render(results)
    print("\n" + report)
    if not args.no_write:
        write_section(
            "Teams pipeline",
            "\n\n".join(
                [
                    (
                        f"`{command_line()}` on {machine()}; load average {load:.1f} when it "
                        f"started and {os.getloadavg()[0]:.1f} when it ended (the bench's own work "
                        "counts in the second; anything else running makes the times higher)."
                    ),
                    (
                        "Every chat is a personal chat of its own user; its question is a message activity "
                        "with a Bot Connector JWT (RS256, checked against the fake OpenID keys), posted at "
                        "once to `/api/messages`. The bot's own token comes from a fake Entra ID through "
                        f"msal. The fake model waits {args.ttft_ms:.0f} ms, then sends {args.tokens} tokens "
                        f"at {args.tokens_per_s:.0f}/s. The fake Bot Connector enforces Teams' streaming "
                        f"rules: one request per {args.pace_s:g} s per stream and none while the previous "
                        "is in flight (429 otherwise), sequence order, chunks that only grow, a final "
                        "message equal to the last chunk. It runs in its own process, and the activities "
                        "are sent from there. *Ack* is the POST until HTTP 200. *CPU ms* is the bot "
                        "process's alone. *Status shown* is from the POST to Teams receiving the informative "
                        'update ("Searching IT documents…"). The latency columns are those of the '
                        "Slack pipeline (`bench/slack_pipeline_model.py`): event → model request, the "
                        "model's first token → the first streamed text and → 20 characters, the interval "
                        "between streamed chunks, and the model's last token → the final message. Teams "
                        "takes one request a second per stream, each after the previous one returned, and "
                        "the final message must repeat the last chunk: when the answer ends with text not "
                        "yet streamed, one more chunk and then the final follow a second apart, which is "
                        "most of the completion lag. *Peak MiB* is the bot process's peak RSS."
                    ) + (
                        f" Questions are searched by meaning too: the fake embeddings endpoint "
                        f"answers each request after {args.embed_ms:.0f} ms."
                        if args.embed_ms is not None
                        else ""
                    ),
                    report,
                ]
            ),
        )


if __name__ == "__main__":
    asyncio.run(main())
