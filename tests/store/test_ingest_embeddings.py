"""Ingestion against a remote-like embedding endpoint: several requests in flight, rate limits,
and each chunk keeping its own vector. Real Postgres; the real openai client over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.runtime import Runtime
from core.ingest import Ingestor
from core.ingest.chunking import Chunker
from core.ingest.pipeline import embedding_input
from core.settings import Settings
from store.retrieval import FullTextRetriever
from tests.support.fake_openai import FakeOpenAI, hashed_embedding, serve_fake

DIMS = 64


def write_notes(folder: Path, count: int) -> Path:
    for i in range(count):
        path = folder / "it" / f"gadget-{i}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"# Gadget {i}\n\nGadget{i} connects to dock model D{i * 7} and charges in "
            f"{i % 5 + 1} hours.\n\n## Care\n\nWipe gadget{i} with a dry cloth; "
            f"replace battery B{i} every {i % 3 + 2} years.\n"
        )
    return folder


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(dimensions=DIMS)
    async with serve_fake(fake) as url:
        yield fake, url


@pytest.fixture
async def rt(settings: Settings, endpoint) -> AsyncIterator[Runtime]:
    _, url = endpoint
    tuned = settings.model_copy(
        update={
            "openai_base_url": url,
            "embedding_model": "remote-embed",
            "embedding_dimensions": DIMS,
            "embedding_batch_size": 4,
            "embedding_concurrency": 3,
        }
    )
    async with await Runtime.start(tuned) as runtime:
        yield runtime


def small_batches(rt: Runtime) -> Ingestor:
    """The runtime's store and embedder, flushing every few chunks so that many batches
    are between read and written at once."""
    return Ingestor(rt.knowledge, chunker=Chunker(), embedder=rt.embedder, batch_chunks=6)


async def stored_chunks(rt: Runtime) -> list[tuple[str, str | None, str, str | None]]:
    async with rt.db.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT title, section, text, embedding::text FROM chunks ORDER BY id"
        )
        return await cur.fetchall()


async def test_concurrent_batches_give_each_chunk_its_own_vector(rt: Runtime, endpoint, tmp_path):
    fake, _ = endpoint
    fake.behaviour.embedding_latency_s = 0.02
    report = await small_batches(rt).ingest([write_notes(tmp_path / "kb", 30)])

    assert report.failed == [] and report.added == 30
    assert report.embedded == report.chunks > 12
    assert fake.peak_embeddings_in_flight == 3
    rows = await stored_chunks(rt)
    assert len(rows) == report.chunks
    for title, section, text, vector in rows:
        expected = hashed_embedding(embedding_input(title, section, text), DIMS, {})
        assert json.loads(vector) == pytest.approx(expected, abs=1e-6), (title, section)


async def test_a_rate_limited_ingest_is_slowed_not_failed(rt: Runtime, endpoint, tmp_path):
    fake, _ = endpoint
    fake.behaviour.embedding_latency_s = 0.01
    fake.behaviour.max_concurrent_embeddings = 1
    report = await small_batches(rt).ingest([write_notes(tmp_path / "kb", 20)])

    assert fake.embeddings_refused > 0, "the endpoint's limit was never reached"
    assert report.failed == []
    assert report.embedded == report.chunks
    assert all(vector is not None for *_, vector in await stored_chunks(rt))


async def test_a_rate_limit_that_never_lifts_is_reported_and_the_index_kept(
    rt: Runtime, endpoint, tmp_path
):
    fake, _ = endpoint
    folder = write_notes(tmp_path / "kb", 12)
    first = await small_batches(rt).ingest([folder])
    assert first.failed == [] and first.embedded == first.chunks

    (folder / "it" / "gadget-3.md").write_text("# Gadget 3\n\nGadget3 is retired: use gadget9.\n")
    fake.behaviour.fail_status = 429
    report = await small_batches(rt).ingest([folder])

    assert report.updated == 1 and report.unchanged == 11
    assert [where for where, _ in report.failed] == ["embeddings"]
    assert "429" in report.failed[0][1] and "rate limited" in report.failed[0][1]
    rows = await stored_chunks(rt)
    # Every other document keeps its vectors; the changed one is stored and found by its text.
    assert all(vector is not None for title, *_, vector in rows if title != "Gadget 3")
    found = await FullTextRetriever(rt.db.pool).search("gadget3 retired", k=1)
    assert found[0].title == "Gadget 3" and "retired" in found[0].text

    fake.behaviour.fail_status = None
    again = await small_batches(rt).ingest([folder])
    assert again.failed == [] and again.unchanged == 12 and again.embedded > 0
    assert all(vector is not None for *_, vector in await stored_chunks(rt))
