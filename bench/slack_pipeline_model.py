"""What the pipeline benches share: a fake model that writes a cited answer, and the latency
columns computed from what the fakes saw (both processes read the same monotonic clock).

The fake model answers the way a grounded model does — short sentences about the VPN, each
ending with a ``[1]`` citation — so the answer passes the grounding check and streams, rather
than being replaced by the passages. It notes, per question (``question(n)``'s number, ``qN``), when
the request arrived, when the first token left and when the last one did.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import psycopg
from aiohttp import web

# Distinct sentences (no run of eight words repeats, so the loop check stays quiet), cited.
SENTENCES = (
    "To connect from home, open the VPN client on your laptop [1].",
    "Sign in with your company account and approve the prompt on your phone [1].",
    "Pick the gateway nearest to you from the list [1].",
    "The shield icon turns green once the tunnel is up [1].",
    "If it stays grey, restart the client and try again [1].",
    "Shared drives and the intranet work only while you are connected [1].",
    "Disconnect when you finish, so others get a free slot [1].",
    "Travelling abroad, choose the regional gateway instead of the default one [1].",
    "A hotel network that blocks the tunnel needs the fallback port setting [1].",
    "The IT Help Hub resets tokens that stopped working [1].",
    "Keep the client updated, since old versions are refused at sign in [1].",
    "Personal devices need the security check before their first connection [1].",
    "Printers at home stay reachable while the tunnel runs [1].",
    "Video calls run better with the split tunnel option switched on [1].",
)


# One stopword a digit: a question's number written with them is dropped by every tokenizer in
# the pipeline (full text, coverage, routing), so it changes nothing the bot decides. Written
# "ticket q19" it read as a quarter, Q19, whose number 19 the coverage check then looked for in
# the passages: questions whose number no passage held were declined without the model.
_DIGITS = ("the", "of", "and", "to", "in", "for", "on", "with", "at", "by")
_NUMBERED = re.compile("«((?:(?:" + "|".join(_DIGITS) + ") ?)+)»")


def question(n: int) -> str:
    """The bench's question, numbered ``n`` (in stopwords, between « and »)."""
    number = " ".join(_DIGITS[int(d)] for d in str(abs(n)))
    return f"How do I connect to the VPN from home? «{number}»"


def marker_of(text: str) -> str | None:
    """``qN`` for the last question numbered in ``text``, None without one."""
    found = _NUMBERED.findall(text)
    if not found:
        return None
    return "q" + "".join(str(_DIGITS.index(word)) for word in found[-1].split())


def answer_tokens(count: int) -> list[str]:
    """``count`` word tokens of the cited answer (each with its trailing space)."""
    words = [w + " " for sentence in SENTENCES for w in sentence.split()]
    return (words * (count // len(words) + 1))[:count]


class BenchModel:
    """A streaming chat-completions endpoint: waits ``ttft_s``, then one token every
    ``interval_s``; notes when each question's request came, first token and last left."""

    def __init__(self, ttft_s: float, interval_s: float, tokens: int) -> None:
        self.ttft_s, self.interval_s, self.tokens = ttft_s, interval_s, tokens
        self.requested: dict[str, float] = {}
        self.first_token: dict[str, float] = {}
        self.last_token: dict[str, float] = {}
        self.asked: Counter[str] = Counter()  # requests per numbered question, routing included

    def report(self) -> dict[str, dict[str, float]]:
        return {
            "requested": self.requested,
            "first_token": self.first_token,
            "last_token": self.last_token,
        }

    async def chat(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.json()
        asked = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        found = marker_of(asked)
        marker = found or "?"
        if found is not None:
            self.asked[found] += 1
        if body.get("stream"):  # the answer, not a routing call
            self.requested.setdefault(marker, arrived)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        ident = f"chatcmpl-{uuid.uuid4().hex[:10]}"

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await asyncio.sleep(self.ttft_s)
        await send({"role": "assistant", "content": ""})
        for n, token in enumerate(answer_tokens(self.tokens)):
            if n:
                await asyncio.sleep(self.interval_s)
            else:
                self.first_token.setdefault(marker, time.monotonic())
            await send({"content": token})
        self.last_token[marker] = time.monotonic()
        await send({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [],
                "usage": {
                    "prompt_tokens": 500,
                    "completion_tokens": self.tokens,
                    "total_tokens": 500 + self.tokens,
                },
            }
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


# -- the load generator (in the fakes' process) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One platform request to our server, built (and signed) before the burst: ``marker`` is
    the question's ``qN``."""

    marker: str
    headers: dict[str, str]
    body: str


def serve_bursts(app: web.Application) -> None:
    """``POST /_bench/burst`` on the fakes' ``app``: send the deliveries in the body to ``url``
    all at once and answer, per marker, when each was sent and how long its ack took. The
    requests leave from the fakes' process, so the bot's process spends nothing on sending them
    (as in production, where the platform sends them)."""
    sessions: list[aiohttp.ClientSession] = []  # one, kept open: warm connections, as Slack's

    async def burst(request: web.Request) -> web.Response:
        # Read past the app's 1 MiB request limit (``request.json()`` keeps to it): a burst of
        # 1,000 signed Teams activities is larger, and the limit is the fake platform's, not
        # this bench endpoint's.
        payload = json.loads(await request.content.read())
        if not sessions:
            sessions.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
        http = sessions[0]
        sent: dict[str, float] = {}
        acks: dict[str, float] = {}

        async def send(d: dict[str, Any]) -> int:
            sent[d["marker"]] = time.monotonic()
            async with http.post(payload["url"], data=d["body"], headers=d["headers"]) as r:
                await r.read()
            acks[d["marker"]] = (time.monotonic() - sent[d["marker"]]) * 1000
            return r.status

        statuses = await asyncio.gather(*(send(d) for d in payload["deliveries"]))
        return web.json_response({"sent": sent, "acks": acks, "statuses": statuses})

    app.router.add_post("/_bench/burst", burst)


async def send_burst(
    http: aiohttp.ClientSession, fakes: str, url: str, deliveries: Iterable[Delivery]
) -> tuple[dict[str, float], dict[str, float]]:
    """Have the fakes' process (``serve_bursts`` at ``fakes``) send ``deliveries`` to ``url`` at
    once; return when each was sent and its ack in ms, by marker. Every one must be acked 200."""
    body = {"url": url, "deliveries": [asdict(d) for d in deliveries]}
    async with http.post(f"{fakes}/_bench/burst", json=body) as r:
        report = await r.json()
    refused = [s for s in report["statuses"] if s != 200]
    assert not refused, f"deliveries answered {refused}"
    return report["sent"], report["acks"]


# -- the columns ------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass(frozen=True, slots=True)
class Shown:
    """One platform call that changed what a person sees: when, and how many characters of
    the answer were on screen after it."""

    at: float
    chars: int


@dataclass(frozen=True, slots=True)
class Latency:
    """The latency columns of one burst, in milliseconds (p50, p99)."""

    to_model: tuple[float, float]  # event sent → model request arrived
    first_text: tuple[float, float]  # model's first token → first text shown
    first_20: tuple[float, float]  # model's first token → 20 characters shown
    interval: tuple[float, float]  # between updates while an answer streams
    interval_max: float
    completion: tuple[float, float]  # model's last token → the answer's last call

    def cells(self) -> list[str]:
        pair = "{0[0]:.0f} / {0[1]:.0f}".format
        return [
            pair(self.to_model),
            pair(self.first_text),
            pair(self.first_20),
            f"{self.interval[0]:.0f} / {self.interval[1]:.0f} / {self.interval_max:.0f}",
            pair(self.completion),
        ]


HEADERS = [
    "event → model request ms p50 / p99",
    "model 1st token → 1st text ms p50 / p99",
    "→ 20 chars ms p50 / p99",
    "update interval ms p50 / p99 / max",
    "completion lag ms p50 / p99",
]


def latency(
    sent: Mapping[str, float], model: Mapping[str, Mapping[str, float]],
    shown: Mapping[str, list[Shown]],
) -> Latency:
    """The columns from when each question was sent, what the model noted and what was shown,
    all keyed by the question's marker (``qN``)."""
    to_model, first, twenty, gaps, completion = [], [], [], [], []
    for marker, calls in shown.items():
        calls = sorted(calls, key=lambda c: c.at)
        if marker in sent and marker in model["requested"]:
            to_model.append((model["requested"][marker] - sent[marker]) * 1000)
        token = model["first_token"].get(marker)
        if token is not None and calls:
            first.append((calls[0].at - token) * 1000)
            reached = next((c.at for c in calls if c.chars >= 20), None)
            if reached is not None:
                twenty.append((reached - token) * 1000)
        last = model["last_token"].get(marker)
        if last is not None and calls:
            completion.append((calls[-1].at - last) * 1000)
            streaming = [c.at for c in calls if c.at <= last]
            gaps += [(b - a) * 1000 for a, b in itertools.pairwise(streaming)]
    return Latency(
        to_model=(percentile(to_model, 0.5), percentile(to_model, 0.99)),
        first_text=(percentile(first, 0.5), percentile(first, 0.99)),
        first_20=(percentile(twenty, 0.5), percentile(twenty, 0.99)),
        interval=(percentile(gaps, 0.5), percentile(gaps, 0.99)),
        interval_max=max(gaps, default=float("nan")),
        completion=(percentile(completion, 0.5), percentile(completion, 0.99)),
    )


# -- our own cost -----------------------------------------------------------------------------


# A backend reports its transactions at most once a second; one that goes idle within that
# second of its last report holds them for up to 10 s (PGSTAT_IDLE_INTERVAL). Read sooner, a
# burst's count misses some of its own transactions and takes some of the warm-up's.
STATS_SETTLE_S = 11.0


async def pg_transactions(database_url: str) -> int:
    """Transactions committed or rolled back in the database so far (Postgres's statistics:
    wait ``STATS_SETTLE_S`` after the work before reading them)."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


def cpu_s() -> float:
    """This process's CPU time (user + system), in seconds."""
    return time.process_time()
