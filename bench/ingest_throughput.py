"""Ingest throughput: our pipeline against langchain-postgres ``PGVector.add_documents``.

Both run in this one process, one after the other, on the same corpus (the claude-docs
documents, repeated ``--repeat`` times under distinct urls) and the same embedder at the same
batch size. Ours reads, chunks, embeds and writes (COPY, writes overlapping the next batch's
embedding, the HNSW index built once after a large first load); langchain-postgres is handed
our chunks already cut, so it only embeds and inserts (and builds no vector index) — the
comparison favours it.

Embedders:
  local        all-MiniLM-L6-v2 behind serve.py (its own process): the model's CPU dominates.
  hashed       the test suite's hashed-word server (its own process) over HTTP.
  precomputed  the hashed vectors computed before the clock starts and handed out from
               memory, so only the pipelines themselves are timed.
  remote       a remote endpoint as production meets it (OpenAI, Azure OpenAI): the hashed
               server in its own process, each request taking --latency-ms (network and
               queueing), and answering 429 + Retry-After above --max-concurrent requests in
               flight, as a rate limit would. Ours runs once per --concurrency value.

    python -m bench.ingest_throughput --embedder precomputed --repeat 5
    python -m bench.ingest_throughput --embedder remote --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from openai import OpenAI

from bench import (
    EMBED_MODEL,
    REPO,
    command_line,
    database,
    embedding_server,
    free_port,
    machine,
    postgres_server,
    table,
    write_section,
)
from bench.quality import EVAL, EvalDocuments
from core.embeddings import DEFAULT_BATCH, OpenAIEmbedder
from core.ingest import Ingestor
from core.ingest.chunking import Chunker
from core.ingest.documents import ChunkDraft, LoadedDocument
from core.ingest.pipeline import Embedder, embedding_input
from core.settings import Settings
from store.database import Database
from store.knowledge import PgKnowledgeStore

_HASHED_SERVER = """
import sys
from aiohttp import web
from tests.support.fake_openai import FakeOpenAI
web.run_app(FakeOpenAI(dimensions=384).app(), host="127.0.0.1", port=int(sys.argv[1]),
            access_log=None, print=None)
"""

# The same server with a remote endpoint's latency and rate limit. A remote endpoint's compute
# happens elsewhere, not on this machine's 2 cores beside the pipelines measured: the vectors
# are worked out once, when /warm is posted the corpus before the clock starts, and then only
# looked up. /stats says how many requests it served, refused (429) and held at once.
_REMOTE_SERVER = """
import sys
from aiohttp import web
from tests.support import fake_openai
from tests.support.fake_openai import Behaviour, FakeOpenAI
port, latency_s, cap, retry_after = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
computed = {}
hashed = fake_openai.hashed_embedding
def looked_up(text, dimensions, synonyms):
    key = (text, dimensions)
    if key not in computed:
        computed[key] = hashed(text, dimensions, synonyms)
    return computed[key]
fake_openai.hashed_embedding = looked_up
fake = FakeOpenAI(dimensions=384, behaviour=Behaviour(
    embedding_latency_s=latency_s, max_concurrent_embeddings=cap, retry_after=retry_after))
async def warm(request):
    for text in (await request.json())["input"]:
        looked_up(text, 384, {})
    return web.json_response({"computed": len(computed)})
async def stats(request):
    body = {"requests": fake.count("embeddings"), "refused": fake.embeddings_refused,
            "peak": fake.peak_embeddings_in_flight}
    if request.method == "POST":
        fake.requests.clear()
        fake.embeddings_refused = fake.peak_embeddings_in_flight = 0
    return web.json_response(body)
app = fake.app()
app.router.add_get("/stats", stats)
app.router.add_post("/stats", stats)
app.router.add_post("/warm", warm)
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
"""
# A batched text-embedding-3-small request: OpenAI publishes no latency figure; commonly
# reported ones are a few hundred milliseconds with network and queueing (about 200-500 ms).
DEFAULT_LATENCY_MS = 300


class EndpointEmbeddings:
    """langchain's ``Embeddings`` over an OpenAI-compatible endpoint, batched like ours."""

    def __init__(self, base_url: str, model: str, batch: int) -> None:
        self._client = OpenAI(base_url=base_url, api_key="unused")
        self._model = model
        self._batch = batch

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self._batch):
            response = self._client.embeddings.create(
                model=self._model, input=texts[i:i + self._batch], encoding_format="float"
            )
            out.extend(d.embedding for d in sorted(response.data, key=lambda d: d.index))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@dataclass
class Precomputed:
    """Vectors worked out before timing; both pipelines read them from memory."""

    vectors: dict[str, list[float]]
    model: str = "precomputed-384"
    dimensions: int | None = 384

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:  # ours
        return [self.vectors[t] for t in texts]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:  # langchain's
        return [self.vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


@asynccontextmanager
async def hashed_server(script: str = _HASHED_SERVER, *args: str) -> AsyncIterator[str]:
    """The test suite's hashed-word embedding server, in a process of its own (an embedding
    service is one; in this process it would take turns with the pipelines measured)."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(port), *args, cwd=str(REPO)
    )
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        await process.wait()


def corpus(repeat: int) -> list[dict[str, str]]:
    entries = json.loads((EVAL / "data" / "anthropic_docs.json").read_text())
    return [
        {**e, "chunk_link": f"{e['chunk_link']}?copy={n}" if n else e["chunk_link"]}
        for n in range(repeat)
        for e in entries
    ]


async def chunked(entries: list[dict[str, str]]) -> list[tuple[LoadedDocument, ChunkDraft]]:
    source, chunker = EvalDocuments(entries), Chunker()
    out = []
    for item in await source.list():
        document = await source.fetch(item, salt="")
        out.extend((document, chunk) for chunk in chunker.split(document))
    return out


def sqlalchemy_url(conninfo: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    host = str(info.get("host", ""))
    socket = host.startswith("/")
    netloc = "" if socket else host + (f":{info['port']}" if info.get("port") else "")
    query = f"?host={quote(host)}" + (f"&port={info['port']}" if info.get("port") else "")
    return (
        f"postgresql+psycopg://{quote(str(info.get('user', 'postgres')))}@{netloc}"
        f"/{info['dbname']}" + (query if socket else "")
    )


async def ours(
    database_url: str, embedder: Embedder, entries: list[dict[str, str]]
) -> tuple[int, float]:
    db = await Database.connect(Settings(_env_file=None, database_url=database_url))
    try:
        ingestor = Ingestor(PgKnowledgeStore(db.pool), chunker=Chunker(), embedder=embedder)
        await ingestor.prepare_embeddings()
        started = time.perf_counter()
        report = await ingestor.ingest_source(EvalDocuments(entries))
        elapsed = time.perf_counter() - started
        assert not report.failed, report.failed
        return report.chunks, elapsed
    finally:
        await db.aclose()


async def theirs(
    database_url: str, embeddings: object, entries: list[dict[str, str]], *, index: bool
) -> tuple[int, float]:
    """``add_documents``; with ``index``, then the same HNSW index ours builds, so both end
    with a store that answers vector searches without a sequential scan."""
    from langchain_core.documents import Document
    from langchain_postgres import PGVector

    documents = [
        Document(
            page_content=embedding_input(d.title, c.section, c.text),
            metadata={"url": d.url, "title": d.title, "ord": c.ord},
        )
        for d, c in await chunked(entries)
    ]
    store = PGVector(
        embeddings=embeddings,  # type: ignore[arg-type]
        collection_name="bench",
        connection=sqlalchemy_url(database_url),
        use_jsonb=True,
        embedding_length=384,
    )
    started = time.perf_counter()
    await asyncio.to_thread(store.add_documents, documents)
    if index:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute("SET maintenance_work_mem = '1GB'")
            await conn.execute(
                "CREATE INDEX ON langchain_pg_embedding USING hnsw (embedding vector_cosine_ops)"
                " WITH (m = 16, ef_construction = 64)"
            )
    return len(documents), time.perf_counter() - started


async def compare(args: argparse.Namespace, server: str) -> list[tuple]:
    entries = corpus(args.repeat)
    if args.embedder == "remote":
        return await remote(args, server, entries)
    with database(server) as ours_url, database(server) as plain, database(server) as indexed:
        theirs_url = (plain, indexed)
        if args.embedder == "precomputed":
            from tests.support.fake_openai import hashed_embedding

            pairs = await chunked(entries)
            texts = [embedding_input(d.title, c.section, c.text) for d, c in pairs]
            shared = Precomputed({t: hashed_embedding(t, 384, {}) for t in texts})
            return await both(shared, shared, entries, ours_url, theirs_url)
        if args.embedder == "hashed":
            async with hashed_server() as url:
                return await endpoint_pair(url, "hashed-384", entries, ours_url, theirs_url)
        with embedding_server(os.environ.get("OPENAI_BASE_URL")) as url:
            return await endpoint_pair(url, args.model, entries, ours_url, theirs_url)


async def remote(args: argparse.Namespace, server: str, entries) -> list[tuple]:
    """langchain-postgres (one request at a time, as its add_documents sends them), then ours
    at each concurrency, each into an empty database, all against one remote-like server."""
    model = "remote-384"
    script_args = (str(args.latency_ms / 1000), str(args.max_concurrent), str(args.retry_after))
    measured: list[tuple[str, int, int, float, dict]] = []
    texts = [embedding_input(d.title, c.section, c.text) for d, c in await chunked(entries)]
    async with hashed_server(_REMOTE_SERVER, *script_args) as url:
        stats = url.removesuffix("/v1") + "/stats"
        for start in range(0, len(texts), 500):  # the server takes bodies up to 1 MB
            await _post(url.removesuffix("/v1") + "/warm", {"input": texts[start:start + 500]})
        for index, name in ((False, "langchain-postgres add_documents (no vector index)"),
                            (True, "langchain-postgres add_documents + HNSW index")):
            await _server_stats(stats, reset=True)
            with database(server) as db:
                count, took = await theirs(
                    db, EndpointEmbeddings(url, model, DEFAULT_BATCH), entries, index=index
                )
            measured.append((name, 1, count, took, await _server_stats(stats)))
        for concurrency in args.concurrency:
            embedder = OpenAIEmbedder(
                model=model, base_url=url, batch_size=DEFAULT_BATCH, concurrency=concurrency
            )
            await _server_stats(stats, reset=True)
            try:
                with database(server) as db:
                    count, took = await ours(db, embedder, entries)
            finally:
                await embedder.aclose()
            measured.append(("switchboard Ingestor (COPY, HNSW + full-text indexes)",
                             concurrency, count, took, await _server_stats(stats)))
    plain, indexed = (m[2] / m[3] for m in measured[:2])
    rows: list[tuple] = []
    for name, concurrency, count, took, seen in measured:
        rate = count / took
        rows.append((name, concurrency, seen["peak"], seen["refused"], count, f"{took:.1f}",
                     f"{rate:,.0f}", f"{rate / plain:.1f}×", f"{rate / indexed:.1f}×"))
    args.reading = remote_reading(args, measured, sum(map(len, texts)) / 4)
    return rows


def remote_reading(args: argparse.Namespace, measured: list[tuple], tokens: float) -> str:
    """What the table says, worked out from it (the run writes its own section)."""
    _, _, count, theirs_s, theirs_seen = measured[0]
    indexed_rate = measured[1][2] / measured[1][3]
    ours = {c: (n / s, seen) for _, c, n, s, seen in measured[2:]}
    default = Settings.model_fields["embedding_concurrency"].default
    requests = theirs_seen["requests"]
    waiting = requests * args.latency_ms / 1000
    best = max(ours, key=lambda c: ours[c][0])
    first = (
        f"One batch at a time, langchain-postgres waits {waiting:.0f} s of its {theirs_s:.0f} s "
        f"on the endpoint ({requests} requests × {args.latency_ms:.0f} ms); the rest is the "
        "SDK's typed parsing of float lists and its inserts."
    )
    lines = [first]
    if 1 in ours:
        lines.append(
            f"Ours with one request in flight is {ours[1][0] * theirs_s / count:.1f}× as fast "
            "(reading, chunking and writing overlap the waits, vectors arrive as base64);"
        )
    if default in ours:
        rate = ours[default][0]
        lines.append(
            f"{'with' if 1 in ours else 'With'} the default of {default} in flight, "
            f"{rate * theirs_s / count:.1f}× "
            f"({rate / indexed_rate:.1f}× the store langchain-postgres leaves with an HNSW index);"
        )
    at_limit = " (all the endpoint accepts)" if best == args.max_concurrent else ""
    lines.append(
        f"the best here is {best} in flight{at_limit} at {ours[best][0] * theirs_s / count:.1f}×: "
        "up to the endpoint's limit the time is its latency, so throughput grows with the "
        "requests in flight."
    )
    over = [c for c in ours if c > args.max_concurrent]
    if over:
        c = over[0]
        lines.append(
            f"Asked for {c} against a limit of {args.max_concurrent}, ours met "
            f"{ours[c][1]['refused']} 429s, lowered its window to what the endpoint accepts "
            f"(peak {ours[c][1]['peak']}) and finished with every chunk embedded, at "
            f"{ours[c][0] * theirs_s / count:.1f}×: a rate limit slows an ingest, it does not "
            "fail it."
        )
    per_minute = tokens / (requests * args.latency_ms / 1000) * 60 if requests else 0
    lines.append(
        f"\n\nWhat this does not show: a tokens-per-minute quota. This corpus is about "
        f"{tokens / max(count, 1):.0f} tokens a chunk (characters ÷ 4), so one request at a "
        f"time at {args.latency_ms:.0f} ms already asks for about {per_minute / 1e6:.1f}M tokens "
        "a minute. Where the quota is below what several requests in flight would ask for "
        "(OpenAI's lower usage tiers, a small Azure deployment), the quota is the throughput "
        "for every client alike, and ours turns the excess into waiting on 429s rather than "
        "failures. Requests in flight pay off where latency, not quota, is the limit: high "
        "tiers, provisioned deployments, self-hosted servers on GPUs."
    )
    return " ".join(lines).replace(" \n\n", "\n\n")


async def _post(url: str, body: dict) -> dict:
    return await asyncio.to_thread(_call, url, json.dumps(body).encode())


async def _server_stats(url: str, *, reset: bool = False) -> dict:
    return await asyncio.to_thread(_call, url, b"" if reset else None)


def _call(url: str, data: bytes | None) -> dict:
    request = urllib.request.Request(
        url, data=data, method="GET" if data is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


async def endpoint_pair(
    url: str, model: str, entries, ours_url: str, theirs_url: Sequence[str]
) -> list[tuple]:
    embedder = OpenAIEmbedder(model=model, base_url=url, batch_size=DEFAULT_BATCH)
    try:
        return await both(embedder, EndpointEmbeddings(url, model, DEFAULT_BATCH), entries,
                          ours_url, theirs_url)
    finally:
        await embedder.aclose()


async def both(
    embedder: Embedder, embeddings: object, entries, ours_url: str, theirs_urls: Sequence[str]
) -> list[tuple]:
    chunks, seconds = await ours(ours_url, embedder, entries)
    rate = chunks / seconds
    rows: list[tuple] = [("switchboard Ingestor (COPY, HNSW + full-text indexes)", chunks,
                          f"{seconds:.1f}", f"{rate:,.0f}", "1.0×")]
    for url, index, name in (
        (theirs_urls[0], False, "langchain-postgres add_documents (no vector index)"),
        (theirs_urls[1], True, "langchain-postgres add_documents + HNSW index"),
    ):
        try:
            count, took = await theirs(url, embeddings, entries, index=index)
        except ImportError as exc:
            rows.append((f"langchain-postgres not installed ({exc.name})", "-", "-", "-", "-"))
            break
        rows.append((name, count, f"{took:.1f}", f"{count / took:,.0f}",
                     f"{rate / (count / took):.1f}×"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", choices=("precomputed", "hashed", "local", "remote"),
                        default="precomputed")
    parser.add_argument("--model", default=EMBED_MODEL, help="with --embedder local")
    parser.add_argument("--repeat", type=int, default=1, help="ingest the corpus this many times over")
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS,
                        help="with --embedder remote: the time each request takes")
    parser.add_argument("--max-concurrent", type=int, default=8,
                        help="with --embedder remote: requests in flight above which it answers 429")
    parser.add_argument("--retry-after", type=int, default=1,
                        help="with --embedder remote: the Retry-After (seconds) sent with a 429")
    parser.add_argument("--concurrency", type=_numbers, default=[1, 2, 4, 8, 16],
                        help="with --embedder remote: our SWITCHBOARD_EMBEDDING_CONCURRENCY values")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    with postgres_server(os.environ.get("BENCH_DATABASE_URL")) as server:
        rows = asyncio.run(compare(args, server))
    if args.embedder == "remote":
        write_remote(args, rows)
        return
    result = table(("pipeline", "chunks", "seconds", "chunks/s", "ours ÷ this"), rows)
    print(result)
    if args.no_write:
        return
    label = {"precomputed": "precomputed vectors", "hashed": "hashed embedding server",
             "local": f"{args.model}, local"}[args.embedder]
    write_section(
        f"Ingest throughput ({label})",
        f"""
The claude-docs corpus × {args.repeat} (distinct urls), {label}, batch size {DEFAULT_BATCH},
both pipelines in one process, one after the other, each into an empty database. Ours reads,
chunks, embeds and writes with COPY (writes overlap the next batch's embedding; a first load
this large builds the HNSW index once at the end, included in the time, as are the full-text
index and its statistics). langchain-postgres `PGVector.add_documents` gets the same chunks
already cut and embeds and inserts them; as shipped it builds no vector index (every search
is then a sequential scan), so it is also timed with the same HNSW index built after its load.

{result}

{READING[args.embedder]}

Command: `{command_line()}` · Machine: {machine()}
""",
    )


READING = {
    "precomputed": (
        "With embedding free, what is left is writing: ours also builds the full-text index and "
        "its statistics and the HNSW index, and still writes a searchable store 1.5× as fast; "
        "the target of 5× is not met here."
    ),
    "hashed": (
        "Over HTTP the gap widens: langchain-postgres's embeddings go through the openai SDK's "
        "typed response, which builds a Python object per float; ours reads the raw response "
        "(base64 where the server supports it) and overlaps the next batch's embedding with "
        "the current batch's write."
    ),
    "local": (
        "With a real model on 2 shared cores the model is the bottleneck (about 10 chunks a "
        "second for all three): the pipelines' differences vanish in its time."
    ),
}


def _numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def write_remote(args: argparse.Namespace, rows: list[tuple]) -> None:
    result = table(
        ("pipeline", "concurrency", "peak in flight", "429s", "chunks", "seconds", "chunks/s",
         "÷ langchain", "÷ langchain + HNSW"),
        rows,
    )
    print(result)
    print(args.reading)
    if args.no_write:
        return
    write_section(
        "Ingest throughput (remote embedding endpoint)",
        f"""
The claude-docs corpus × {args.repeat} (distinct urls), batch size {DEFAULT_BATCH}, against one
embedding server shaped like a remote endpoint: the hashed-word server in a process of its own
on 127.0.0.1, where every request takes {args.latency_ms:.0f} ms (network and queueing; OpenAI
publishes no latency figure for its embeddings endpoint, and commonly reported ones for a
batched text-embedding-3-small request are a few hundred milliseconds) and more than
{args.max_concurrent} requests in flight are refused with 429 and `Retry-After: {args.retry_after}`, as a
rate limit would. The server works each vector out once before the clock starts and then only
looks it up: a remote endpoint's compute does not share this machine's 2 cores with the
pipelines. Both pipelines use that server, in one process, one after the other, each
into an empty database. langchain-postgres `PGVector.add_documents` embeds through an
`Embeddings` that sends one batch at a time (as langchain's embeddings classes do) and inserts,
timed without and with the same HNSW index ours builds. Ours ingests the documents (read,
chunk, embed, COPY, full-text and HNSW indexes) with `SWITCHBOARD_EMBEDDING_CONCURRENCY` set to
each value in the *concurrency* column. *Peak in flight* and *429s* are what the server saw.

{result}

{args.reading}

Command: `{command_line()}` · Machine: {machine()}
""",
    )


if __name__ == "__main__":
    main()

