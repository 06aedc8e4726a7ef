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

    python -m bench.ingest_throughput --embedder precomputed --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
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
async def hashed_server() -> AsyncIterator[str]:
    """The test suite's hashed-word embedding server, in a process of its own (an embedding
    service is one; in this process it would take turns with the pipelines measured)."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HASHED_SERVER, str(port), cwd=str(REPO)
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


async def ours(database_url: str, embedder: Embedder, entries: list[dict[str, str]]) -> tuple[int, float]:
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


async def compare(
    args: argparse.Namespace, ours_url: str, theirs_url: Sequence[str]
) -> list[tuple]:
    entries = corpus(args.repeat)
    if args.embedder == "precomputed":
        from tests.support.fake_openai import hashed_embedding

        texts = [embedding_input(d.title, c.section, c.text) for d, c in await chunked(entries)]
        shared = Precomputed({t: hashed_embedding(t, 384, {}) for t in texts})
        return await both(shared, shared, entries, ours_url, theirs_url)
    if args.embedder == "hashed":
        async with hashed_server() as url:
            return await endpoint_pair(url, "hashed-384", entries, ours_url, theirs_url)
    with embedding_server(os.environ.get("OPENAI_BASE_URL")) as url:
        return await endpoint_pair(url, args.model, entries, ours_url, theirs_url)


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
    parser.add_argument("--embedder", choices=("precomputed", "hashed", "local"),
                        default="precomputed")
    parser.add_argument("--model", default=EMBED_MODEL, help="with --embedder local")
    parser.add_argument("--repeat", type=int, default=1, help="ingest the corpus this many times over")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    with postgres_server(os.environ.get("BENCH_DATABASE_URL")) as server, database(
        server
    ) as ours_url, database(server) as plain_url, database(server) as indexed_url:
        rows = asyncio.run(compare(args, ours_url, (plain_url, indexed_url)))
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


if __name__ == "__main__":
    main()
