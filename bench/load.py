"""2,000 people at once: the Slack HTTP path under a burst, on one replica and on three.

Every conversation is one person's DM with the app (``message.im``, signed as Slack signs),
all posted at once, round-robin over the replicas. Each replica is a real ``switchboard serve``
process; the replicas share one Postgres and one Redis. A share of the events is delivered a
second time to *another* replica, the way Slack retries while the first delivery is still
being handled. The fake Slack Web API (Slack's tiers, 429s) and the fake model (``--ttft-ms``
to the first token, then ``--tokens-per-s``) run in a process of their own, the load
generator in another, so each replica's CPU and memory are its own.

Reported per run: events acknowledged within 3 s and the ack latency; Switchboard's overhead
from the model's first token to Slack receiving the first text, and the time a person waits
from their event to the first text; answers lost or doubled (each conversation must end with
exactly one complete answer, in Slack and in Postgres); each replica's memory idle and at its
peak, and its CPU; Postgres and Redis at that load.

    python -m bench.load                                  # 2,000 conversations, 1 then 3 replicas
    python -m bench.load --conversations 200 --replicas 1 --no-write   # a quick look

Everything listens on 127.0.0.1 and every wait is bounded (``--deadline-s``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiohttp import web
from redis.asyncio import Redis

from bench import (
    REPO,
    command_line,
    database,
    free_port,
    machine,
    postgres_server,
    table,
    write_section,
)
from bench.slack_pipeline import (
    SAMPLE,
    SECRET,
    TEAM,
    TEXT_METHODS,
    TOKEN,
    BenchModel,
    envelope,
    percentile,
    signed_headers,
)
from bots.runtime import Runtime
from bots.settings import AppSettings as Settings

ACK_LIMIT_MS = 3000
OVERHEAD_TARGET_MS = 200
MEMORY_GOAL_MIB = 1536
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the fakes (child process) ----------------------------------------------------------------


def serve_fakes(
    window_s: float, ttft_s: float, interval_s: float, tokens: int, ready: multiprocessing.Queue
) -> None:
    """Fake Slack and fake model on one port; ``/_bench/report`` sums up what Slack saw."""
    from tests.support.fake_slack import FakeSlack

    async def main() -> None:
        slack = FakeSlack(window_s=window_s)
        slack.add_workspace(TEAM, TOKEN, bot_user_id="UBOT")
        model = BenchModel(ttft_s, interval_s, tokens)

        async def report(_: web.Request) -> web.Response:
            first_text: dict[str, float] = {}
            last_call: dict[str, float] = {}
            methods: Counter[str] = Counter()
            limited = 0
            for call in slack.calls:
                methods[call.method] += 1
                if call.status == 429:
                    limited += 1
                    methods[f"429 {call.method}"] += 1
                channel = call.args.get("channel") or call.args.get("channel_id")
                if not channel:
                    continue
                last_call[channel] = max(last_call.get(channel, 0.0), call.at)
                if call.method in TEXT_METHODS and call.ok:
                    first_text.setdefault(channel, call.at)
            complete = {
                channel: sum(
                    1
                    for m in messages
                    for b in m.blocks
                    if b.get("type") == "context_actions"
                )
                for channel, messages in slack.messages.items()
            }
            return web.json_response(
                {
                    "first_text": first_text,
                    "last_call": last_call,
                    "complete": complete,
                    "messages": {c: len(m) for c, m in slack.messages.items()},
                    "first_token": model.first_token,
                    "generations": dict(model.asked),
                    "methods": dict(methods),
                    "rate_limited": limited,
                    "streamed": methods.get("chat.startStream", 0),
                }
            )

        app = slack.app()
        app.router.add_get("/_bench/report", report)
        app.router.add_post("/v1/chat/completions", model.chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=8192)
        await site.start()
        port = runner.addresses[0][1]
        slack.set_base_url(f"http://127.0.0.1:{port}")
        ready.put(port)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the load generator (child process) -------------------------------------------------------


def generate_load(
    urls: list[str],
    conversations: int,
    duplicates: float,
    seed: int,
    out: multiprocessing.Queue,
) -> None:
    """Post every conversation's event at once (round-robin over ``urls``); a share is sent a
    second time, to the next replica, as a Slack retry. Puts (sent_at, ack_ms, status, n,
    retry) for each POST on ``out``."""

    async def main() -> list[tuple[float, float, int, int, bool]]:
        rng = random.Random(seed)
        again = set(rng.sample(range(conversations), int(conversations * duplicates)))
        results: list[tuple[float, float, int, int, bool]] = []
        timeout = aiohttp.ClientTimeout(total=60)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

            async def post(n: int, url: str, body: str, retry: bool) -> None:
                headers = signed_headers(body)
                if retry:
                    headers["X-Slack-Retry-Num"] = "1"
                    headers["X-Slack-Retry-Reason"] = "http_timeout"
                sent = time.monotonic()
                try:
                    async with http.post(f"{url}/slack/events", data=body, headers=headers) as r:
                        await r.read()
                        status = r.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                results.append((sent, (time.monotonic() - sent) * 1000, status, n, retry))

            posts = []
            for n in range(conversations):
                body = json.dumps(envelope(n))
                posts.append(post(n, urls[n % len(urls)], body, False))
                if n in again:
                    posts.append(post(n, urls[(n + 1) % len(urls)], body, True))
            await asyncio.gather(*posts)
        return results

    out.put(asyncio.run(main()))


# -- replicas ---------------------------------------------------------------------------------


@dataclass
class Replica:
    """One ``switchboard serve`` process and what was sampled from it."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    idle_mib: float = 0.0
    peak_mib: float = 0.0
    cpu_s: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> dict[str, int]:
        found = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line.split(":")[0]] = int(line.split()[1])
        return found

    def cpu_ticks(self) -> int:
        return cpu_ticks(self.process.pid)

    def reset_peak(self) -> None:
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        except OSError:
            pass


def serve_env(
    args: argparse.Namespace,
    base: str,
    database_url: str,
    redis_url: str | None,
    port: int,
    data_dir: Path,
    max_answers: int,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SWITCHBOARD_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "SWITCHBOARD_HOST": "127.0.0.1",
            "SWITCHBOARD_DATA_DIR": str(data_dir),
            "SWITCHBOARD_SAMPLE_KNOWLEDGE": str(SAMPLE),
            "SWITCHBOARD_LOG_LEVEL": args.log_level,
            # The scheduler's jobs would only add noise to a one-minute run.
            "SWITCHBOARD_JOBS_ENABLED": "false",
            "SWITCHBOARD_ANSWER_CACHE_TTL": "0",  # every question goes to the model
            "SWITCHBOARD_DB_POOL_MIN": str(min(4, args.db_pool)),
            "SWITCHBOARD_DB_POOL_MAX": str(args.db_pool),
            # The guard step as a real deployment runs it: budgets set (not reached).
            "SWITCHBOARD_USER_DAILY_BUDGET_USD": "5",
            "SWITCHBOARD_WORKSPACE_DAILY_BUDGET_USD": "100000",
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": f"{base}/api/",
            "OPENAI_BASE_URL": f"{base}/v1",
            "OPENAI_API_KEY": "sk-bench",
            "SWITCHBOARD_CHAT_MODEL": "gpt-4o-mini",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env["SLACK_MAX_ANSWERS"] = str(max_answers)
    if args.answer_lag_ms is not None:
        env["SWITCHBOARD_ANSWER_LAG_MS"] = str(args.answer_lag_ms)
    return env


def start_replica(env: dict[str, str], port: int, log: Path, work: Path) -> Replica:
    process = subprocess.Popen(
        [sys.executable, "-m", "bots.cli", "serve"],
        cwd=work,  # no .env from the work tree
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Replica(process, port, log)


def start_profiler(replica: Replica, output: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the replica's stacks (collapsed, one line per stack) until stopped."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [spy, "record", "--pid", str(replica.process.pid), "--rate", "100", "--format", "raw",
         "--output", str(output), "--duration", str(int(seconds))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(http: aiohttp.ClientSession, replica: Replica, deadline: float) -> None:
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise SystemExit(f"a replica exited: see {replica.log}")
        try:
            async with http.get(f"{replica.url}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"a replica did not start in time: see {replica.log}")


async def warm_up(http: aiohttp.ClientSession, replica: Replica) -> None:
    """An edit event: verified and acknowledged (bolt's auth.test done), never answered."""
    payload = envelope(-1 - replica.port)
    payload["event"]["subtype"] = "message_changed"
    body = json.dumps(payload)
    async with http.post(f"{replica.url}/slack/events", data=body, headers=signed_headers(body)) as r:
        await r.read()


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def children_ticks(parent: int) -> dict[int, int]:
    """CPU ticks of ``parent`` and its child processes (a Postgres server and its backends)."""
    found = {parent: cpu_ticks(parent)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == parent:
                found[int(entry.name)] = cpu_ticks(int(entry.name))
    return found


def cores_used(before: dict[int, int], after: dict[int, int], wall: float) -> float:
    """Average cores used by a set of processes (those that ended meanwhile are not counted)."""
    ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
    return max(0, ticks) / CLOCK_TICKS / wall


async def postmaster_pid(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("SHOW data_directory")
        (folder,) = await cur.fetchone()  # type: ignore[misc]
    return int((Path(folder) / "postmaster.pid").read_text().split()[0])


# -- one run ----------------------------------------------------------------------------------


@dataclass
class Result:
    replicas: int
    max_answers: int
    conversations: int
    deliveries: int
    acked_in_time: int
    refused: int  # deliveries answered with something other than 200
    ack_p50: float
    ack_p99: float
    ack_max: float
    overhead_p50: float
    overhead_p99: float
    wait_p50: float
    wait_p99: float
    lost: int
    doubled: int
    regenerated: int
    streamed: int
    rate_limited: int
    idle_mib: list[float]
    peak_mib: list[float]
    cpu_cores: list[float]
    wall_s: float
    pg: dict[str, float] = field(default_factory=dict)
    redis: dict[str, float] = field(default_factory=dict)
    slack_calls: int = 0
    others: dict[str, float] = field(default_factory=dict)
    limited_methods: dict[str, int] = field(default_factory=dict)


async def sample(
    database_url: str, replicas: list[Replica], stop: asyncio.Event, peaks: dict[str, float]
) -> None:
    """Every half second: busy Postgres connections and the inbox's depth (their peaks), and
    each replica's answers at once, their limit and its event loop's lag (from /metrics)."""
    async with (
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn,
        aiohttp.ClientSession() as http,
    ):
        while not stop.is_set():
            for replica in replicas:
                await answers_at_once(http, replica, peaks)
            cur = await conn.execute(
                """SELECT count(*) FILTER (WHERE state = 'active'), count(*)
                   FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()"""
            )
            active, total = await cur.fetchone()  # type: ignore[misc]
            cur = await conn.execute(
                "SELECT count(*) FROM inbox WHERE state IN ('pending', 'working')"
            )
            (depth,) = await cur.fetchone()  # type: ignore[misc]
            peaks["pg_active"] = max(peaks.get("pg_active", 0), active)
            peaks["pg_connections"] = max(peaks.get("pg_connections", 0), total)
            peaks["inbox_depth"] = max(peaks.get("inbox_depth", 0), depth)
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass


_AT_ONCE = re.compile(
    r'^(?:switchboard_answers_at_once\{state="(running|limit)"\}|'
    r"(switchboard_event_loop_lag_seconds)) ([0-9.e+-]+)$",
    re.MULTILINE,
)


async def answers_at_once(
    http: aiohttp.ClientSession, replica: Replica, peaks: dict[str, float]
) -> None:
    try:
        async with http.get(f"{replica.url}/metrics") as r:
            text = await r.text()
    except aiohttp.ClientError:
        return
    for state, lag, value in _AT_ONCE.findall(text):
        if state == "running":
            peaks["running"] = max(peaks.get("running", 0), float(value))
        elif state == "limit":
            peaks["lowest_limit"] = min(peaks.get("lowest_limit", float("inf")), float(value))
        elif lag:
            peaks["lag_s"] = max(peaks.get("lag_s", 0), float(value))


async def pg_counters(database_url: str) -> dict[str, float]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT xact_commit + xact_rollback, active_time "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        xacts, active_ms = await cur.fetchone()  # type: ignore[misc]
        return {"xacts": float(xacts), "active_ms": float(active_ms or 0)}


async def pg_outcome(database_url: str) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            """SELECT c.channel_id, count(*) FILTER (WHERE m.role = 'assistant'),
                      count(*) FILTER (WHERE m.role = 'user')
               FROM conversations c JOIN messages m ON m.conversation_id = c.id
               GROUP BY c.channel_id"""
        )
        per_channel = {row[0]: (int(row[1]), int(row[2])) for row in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT pg_total_relation_size('messages')::float / greatest(count(*), 1) FROM messages"
        )
        (row_bytes,) = await cur.fetchone()  # type: ignore[misc]
        cur = await conn.execute("SELECT state, count(*) FROM inbox GROUP BY state")
        inbox = {str(s): int(n) for s, n in await cur.fetchall()}
    return {"per_channel": per_channel, "row_bytes": float(row_bytes), "inbox": inbox}


async def redis_counters(url: str | None) -> dict[str, float]:
    if not url:
        return {}
    client = Redis.from_url(url)
    try:
        info = await client.info()
        return {
            "commands": float(info.get("total_commands_processed", 0)),
            "memory_mib": float(info.get("used_memory", 0)) / 1024 / 1024,
            "keys": float(await client.dbsize()),
        }
    finally:
        await client.aclose()


async def run(
    count: int, cap: int, database_url: str, redis_url: str | None, args: argparse.Namespace
) -> Result:
    work = Path(tempfile.mkdtemp(prefix="sbload-", dir="/tmp"))
    settings = Settings(
        _env_file=None, database_url=database_url, data_dir=work / "data", sample_knowledge=None
    )
    async with await Runtime.start(settings) as runtime:  # migrations, then the sample documents
        if not await runtime.knowledge.count_chunks():
            await runtime.ingestor.ingest([SAMPLE])
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue = context.Queue()
    fakes = context.Process(
        target=serve_fakes,
        args=(60.0, args.ttft_ms / 1000, 1 / args.tokens_per_s, args.tokens, ready),
        daemon=True,
    )
    fakes.start()
    base = f"http://127.0.0.1:{ready.get(timeout=60)}"
    replicas: list[Replica] = []
    loader: multiprocessing.process.BaseProcess | None = None
    profiler: subprocess.Popen[bytes] | None = None
    deadline = time.monotonic() + args.deadline_s
    try:
        for index in range(count):
            port = free_port()
            env = serve_env(
                args, base, database_url, redis_url, port, work / f"data-{index}", cap
            )
            replicas.append(start_replica(env, port, work / f"replica-{index}.log", work))
        async with aiohttp.ClientSession() as http:
            for replica in replicas:
                await wait_ready(http, replica, time.monotonic() + 120)
            for replica in replicas:
                await warm_up(http, replica)
        await asyncio.sleep(1.0)  # let start-up work settle before measuring idle memory
        for replica in replicas:
            replica.idle_mib = replica.status()["VmRSS"] / 1024
            replica.reset_peak()
        if args.profile:
            profiler = start_profiler(replicas[0], Path(args.profile), args.deadline_s)
        pg_before, redis_before = await pg_counters(database_url), await redis_counters(redis_url)
        ticks = [r.cpu_ticks() for r in replicas]
        postmaster = await postmaster_pid(database_url)
        postgres_before = children_ticks(postmaster)
        fakes_before = cpu_ticks(fakes.pid or 0)
        peaks: dict[str, float] = {}
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(database_url, replicas, stop, peaks))
        out: multiprocessing.Queue = context.Queue()
        started = time.monotonic()
        loader = context.Process(
            target=generate_load,
            args=([r.url for r in replicas], args.conversations, args.duplicates, args.seed, out),
            daemon=True,
        )
        loader.start()
        acks: list[tuple[float, float, int, int, bool]] = await asyncio.to_thread(
            out.get, True, max(1.0, deadline - time.monotonic())
        )
        burst_cpu = sum(r.cpu_ticks() - t for r, t in zip(replicas, ticks)) / CLOCK_TICKS
        # Every conversation answered (or the deadline), and nothing left in the inbox.
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                async with http.get(f"{base}/_bench/report") as r:
                    report = await r.json()
                finished = sum(1 for n in range(args.conversations)
                               if report["complete"].get(f"D{n}"))
                if finished >= args.conversations:
                    outcome = await pg_outcome(database_url)
                    if not (outcome["inbox"].get("pending") or outcome["inbox"].get("working")):
                        break
                await asyncio.sleep(1.0)
            wall = time.monotonic() - started
            await asyncio.sleep(1.0)  # a doubled answer would land now
            async with http.get(f"{base}/_bench/report") as r:
                report = await r.json()
        stop.set()
        await sampler
        cpu = [(r.cpu_ticks() - t) / CLOCK_TICKS / wall for r, t in zip(replicas, ticks)]
        others = {
            "postgres_cores": cores_used(postgres_before, children_ticks(postmaster), wall),
            "fakes_cores": (cpu_ticks(fakes.pid or 0) - fakes_before) / CLOCK_TICKS / wall,
            "load_average": os.getloadavg()[0],
            "burst_cpu_ms_per_delivery": burst_cpu * 1000 / max(len(acks), 1),
        }
        for replica in replicas:
            replica.peak_mib = replica.status()["VmHWM"] / 1024
        pg_after, redis_after = await pg_counters(database_url), await redis_counters(redis_url)
        outcome = await pg_outcome(database_url)
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            try:
                profiler.wait(timeout=60)
            except subprocess.TimeoutExpired:
                profiler.kill()
        for replica in replicas:
            replica.process.send_signal(signal.SIGTERM)
        for replica in replicas:
            try:
                replica.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                replica.process.kill()
        if loader is not None and loader.is_alive():
            loader.terminate()
        fakes.terminate()
        fakes.join(10)

    first_acks = [a for a in acks if not a[4]]
    ack_ms = [a[1] for a in acks]
    sent_at = {a[3]: a[0] for a in first_acks}
    overheads, waits = [], []
    for n in range(args.conversations):
        shown = report["first_text"].get(f"D{n}")
        token = report["first_token"].get(f"q{n}")
        if shown is not None and token is not None:
            overheads.append((shown - token) * 1000)
        if shown is not None and n in sent_at:
            waits.append(shown - sent_at[n])
    complete = [report["complete"].get(f"D{n}", 0) for n in range(args.conversations)]
    stored = [outcome["per_channel"].get(f"D{n}", (0, 0)) for n in range(args.conversations)]
    answers = outcome["per_channel"]
    stored_answers = sum(a for a, _ in answers.values())
    return Result(
        replicas=count,
        max_answers=cap,
        conversations=args.conversations,
        deliveries=len(acks),
        acked_in_time=sum(1 for a in acks if a[2] == 200 and a[1] <= ACK_LIMIT_MS),
        refused=sum(1 for a in acks if a[2] != 200),
        ack_p50=percentile(ack_ms, 0.5),
        ack_p99=percentile(ack_ms, 0.99),
        ack_max=max(ack_ms, default=float("nan")),
        overhead_p50=percentile(overheads, 0.5),
        overhead_p99=percentile(overheads, 0.99),
        wait_p50=percentile(waits, 0.5),
        wait_p99=percentile(waits, 0.99),
        lost=sum(1 for c, (a, _) in zip(complete, stored) if c == 0 or a == 0),
        doubled=sum(1 for c, (a, q) in zip(complete, stored) if c > 1 or a > 1 or q > 1),
        regenerated=sum(1 for v in report["generations"].values() if v > 1),
        streamed=int(report["streamed"]),
        rate_limited=int(report["rate_limited"]),
        idle_mib=[r.idle_mib for r in replicas],
        peak_mib=[r.peak_mib for r in replicas],
        cpu_cores=cpu,
        wall_s=wall,
        pg={
            "xacts_per_answer": (pg_after["xacts"] - pg_before["xacts"]) / max(stored_answers, 1),
            "peak_active": peaks.get("pg_active", 0),
            "peak_connections": peaks.get("pg_connections", 0),
            "peak_inbox": peaks.get("inbox_depth", 0),
            "peak_running": peaks.get("running", 0),
            "lowest_limit": peaks.get("lowest_limit", 0),
            "peak_lag_ms": peaks.get("lag_s", 0) * 1000,
            "row_bytes": outcome["row_bytes"],
            "xacts_per_s": (pg_after["xacts"] - pg_before["xacts"]) / wall,
            "ms_per_xact": (pg_after["active_ms"] - pg_before["active_ms"])
            / max(pg_after["xacts"] - pg_before["xacts"], 1),
        },
        redis={
            "ops_per_s": (redis_after.get("commands", 0) - redis_before.get("commands", 0)) / wall,
            "memory_mib": redis_after.get("memory_mib", 0.0),
            "keys": redis_after.get("keys", 0.0),
        }
        if redis_url
        else {},
        slack_calls=sum(v for k, v in report["methods"].items() if not k.startswith("429 "))
        - report["methods"].get("auth.test", 0),
        limited_methods={
            k.removeprefix("429 "): v for k, v in report["methods"].items() if k.startswith("429 ")
        },
        others=others,
    )


# -- the report -------------------------------------------------------------------------------


def render(results: list[Result]) -> str:
    rows = [
        (
            r.replicas,
            r.max_answers,
            f"{r.conversations:,} (+{r.deliveries - r.conversations} retries)",
            f"{r.acked_in_time:,}/{r.deliveries:,}"
            + (f" ({r.refused} not 200)" if r.refused else ""),
            f"{r.ack_p50:.0f} / {r.ack_p99:.0f} / {r.ack_max:.0f}",
            f"{r.overhead_p50:.0f} / {r.overhead_p99:.0f}",
            f"{r.wait_p50:.1f} / {r.wait_p99:.1f}",
            f"{r.lost} / {r.doubled}",
            r.streamed,
            f"{r.rate_limited} ({', '.join(f'{k} {v}' for k, v in r.limited_methods.items())})"
            if r.rate_limited
            else 0,
            " + ".join(f"{m:.0f}" for m in r.idle_mib),
            " + ".join(f"{m:.0f}" for m in r.peak_mib),
            " + ".join(f"{c:.2f}" for c in r.cpu_cores),
            f"{r.wall_s:.0f}",
            f"{r.conversations / r.wall_s:.1f}",
        )
        for r in results
    ]
    return table(
        [
            "replicas",
            "SLACK_MAX_ANSWERS",
            "conversations",
            "acked ≤ 3 s",
            "ack ms p50 / p99 / max",
            "overhead ms p50 / p99",
            "event → first text s p50 / p99",
            "lost / doubled",
            "streamed",
            "429s",
            "idle MiB",
            "peak MiB",
            "CPU cores",
            "wall s",
            "answers / s",
        ],
        rows,
    )


def render_stores(results: list[Result]) -> str:
    rows = [
        (
            r.replicas,
            r.max_answers,
            f"{r.pg['xacts_per_answer']:.1f}",
            f"{r.pg['xacts_per_s']:.0f}",
            f"{r.pg['ms_per_xact']:.2f}",
            f"{r.pg['peak_active']:.0f} / {r.pg['peak_connections']:.0f}",
            f"{r.pg['peak_inbox']:.0f}",
            f"{r.pg['peak_running']:.0f} / {r.pg['lowest_limit']:.0f} / {r.pg['peak_lag_ms']:.0f}",
            f"{r.pg['row_bytes'] / 1024:.1f}",
            f"{r.redis.get('ops_per_s', 0):.0f}" if r.redis else "–",
            f"{r.redis.get('memory_mib', 0):.1f}" if r.redis else "–",
            f"{r.slack_calls / max(r.conversations, 1):.1f}",
            r.regenerated,
            f"{r.others.get('postgres_cores', 0):.2f}",
            f"{r.others.get('fakes_cores', 0):.2f}",
            f"{r.others.get('load_average', 0):.1f}",
            f"{r.others.get('burst_cpu_ms_per_delivery', 0):.2f}",
            f"{sum(r.cpu_cores) * r.wall_s * 1000 / max(r.conversations, 1):.1f}",
        )
        for r in results
    ]
    return table(
        [
            "replicas",
            "SLACK_MAX_ANSWERS",
            "Postgres transactions / answer",
            "transactions / s",
            "ms per transaction",
            "busy / open connections (peak)",
            "inbox depth (peak)",
            "answers at once (peak) / lowest limit / loop lag ms (max)",
            "KiB / messages row",
            "Redis ops / s",
            "Redis MiB",
            "Slack calls / answer",
            "answers generated twice",
            "Postgres CPU cores",
            "fakes CPU cores",
            "load average",
            "replica CPU ms / delivery until acked",
            "replica CPU ms / answer",
        ],
        rows,
    )


READING = (
    "Reading it. A replica is one Python process, so at most one core; on this 2-core machine "
    "it shares the cores with the fakes, the load generator and Postgres (the *CPU cores* and "
    "*load average* columns say how much it got). Every question reaches the model: its "
    "number is written in stopwords (`bench/slack_pipeline_model.py`). Until round eight of "
    "the latency rounds above, most questions of this burst were declined without the model, "
    "and the figures measured then are not comparable with these. **Acks**: the inbox rows "
    "of a burst are written a batch at a time (`store/arrivals.py`), which also turns "
    "duplicates away, and answers wait while a burst is being acknowledged "
    "(`core/lifecycle/acks.py`). **Overhead** to the first text grows with the answers in "
    "flight, because every answer's tokens are read on the same event loop. **Event → first "
    "text** is the queue. A replica runs as many answers at once as its event loop keeps up "
    "with (`core/lifecycle/slots.py`), up to `SLACK_MAX_ANSWERS`; *answers at once* is the "
    "most that ran, the lowest the limit fell to and the loop's worst lag, read from each "
    "replica's /metrics every half second (latency, round ten). **Three "
    "replicas** here show that nothing is lost or doubled when 10 % of the events reach two "
    "replicas, and each replica's memory; they cannot show scale on two shared cores."
)


def describe(args: argparse.Namespace) -> str:
    setup = (
        f"{args.conversations:,} conversations, each one person's DM with the app, post their "
        "signed `message.im` event at once to `/slack/events`, round-robin over the replicas "
        "(`switchboard serve` processes sharing one Postgres 16 and one Redis 7); "
        f"{args.duplicates:.0%} of the events are delivered a second time, to another replica, "
        f"as a Slack retry. The fake model waits {args.ttft_ms:.0f} ms, then writes "
        f"{args.tokens} tokens at {args.tokens_per_s:.0f}/s; the fake Slack Web API enforces "
        "Slack's tiers per workspace over a 60 s window. Fakes and load generator run in "
        f"processes of their own. Postgres pool of {args.db_pool} connections per replica, "
        "daily budgets set (not reached), answer cache off, jobs off. SLACK_MAX_ANSWERS is how "
        "many answers one replica works on at once; the rest wait their turn after the ack."
    )
    columns = (
        "*Acked ≤ 3 s*: deliveries answered 200 within Slack's 3 s. *Overhead*: from the model "
        "sending an answer's first token to Slack receiving its first text. *Event → first "
        "text*: what the person waits, queueing behind SLACK_MAX_ANSWERS included. *Lost / "
        "doubled*: conversations without exactly one complete answer (in Slack: the message "
        "with the 👍/👎 buttons; in Postgres: one question and one answer). *Idle / peak MiB*: "
        "each replica's RSS before the burst and its peak; *CPU cores*: each replica's CPU "
        "time over the wall time; Postgres's the same for its server and backends. *Replica "
        "CPU ms / answer*: every replica's CPU time over the run (the model's stream read "
        "included) per conversation."
    )
    return "\n\n".join([f"`{command_line()}` on {machine()}.", setup, columns])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--replicas", default="1,3", help="comma-separated runs, e.g. 1,3")
    parser.add_argument("--ttft-ms", type=float, default=500, help="model time to first token")
    parser.add_argument("--tokens-per-s", type=float, default=30, help="model token rate")
    parser.add_argument("--tokens", type=int, default=90, help="tokens per answer")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share delivered twice")
    parser.add_argument(
        "--max-answers", default="", help="SLACK_MAX_ANSWERS values to run, e.g. 200,64 "
        "(default: the setting's default)"
    )
    parser.add_argument(
        "--answer-lag-ms", type=float, default=None,
        help="SWITCHBOARD_ANSWER_LAG_MS for the replicas (default: the setting's default)",
    )
    parser.add_argument("--db-pool", type=int, default=20, help="Postgres pool per replica")
    parser.add_argument("--no-redis", action="store_true", help="replicas without Redis")
    parser.add_argument("--deadline-s", type=float, default=600, help="longest a run may take")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-level", default="WARNING", help="the replicas' log level")
    parser.add_argument("--keep", action="store_true", help="keep the replicas' logs")
    parser.add_argument("--profile", help="py-spy: collapsed stacks of the first replica here")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    runs = [int(x) for x in args.replicas.split(",") if x.strip()]
    from tests.support.services import redis_server

    caps = [int(x) for x in args.max_answers.split(",") if x.strip()] or [
        Settings.model_fields["max_answers"].default
    ]
    results = []
    with postgres_server(os.environ.get("BENCH_DATABASE_URL")) as server:
        for count in runs:
            for cap in caps:
                with database(server) as url, redis_server() as redis_url:
                    if redis_url is None and not args.no_redis:
                        raise SystemExit("redis-server is not installed (or pass --no-redis)")
                    redis = None if args.no_redis else redis_url
                    result = await run(count, cap, url, redis, args)
                results.append(result)
                print(render([result]), flush=True)
    report = "\n\n".join([render(results), render_stores(results)])
    print("\n" + report)
    if not args.no_write:
        write_section("Load", "\n\n".join([describe(args), report, READING]))


if __name__ == "__main__":
    asyncio.run(main())
