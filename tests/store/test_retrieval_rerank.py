"""The rerank stage against real Postgres and a local /rerank server in both API shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.runtime import Runtime
from core.rerank import HttpReranker, RerankError
from core.settings import Settings
from store.retrieval import HybridRetriever
from tests.support.fake_rerank import FakeRerank, serve_rerank

DOCS = {
    "hr/leave.md": "# Annual leave\n\nAnnual leave is 25 days a year. Leave requests go to your "
    "manager through the People portal.",
    "hr/parental.md": "# Parental leave\n\nParental leave is 20 weeks at full pay; tell your "
    "manager about the leave eight weeks ahead.",
    "hr/sick.md": "# Sick leave\n\nCall in before ten on the first morning of sick leave.",
}


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture
async def runtime(settings: Settings, tmp_path: Path):
    async with await Runtime.start(settings) as rt:
        report = await rt.ingestor.ingest([write(tmp_path / "kb", DOCS)])
        assert report.failed == []
        yield rt


@pytest.mark.parametrize("shape", ["documents", "texts"])
async def test_a_reranker_puts_the_passage_it_prefers_first(runtime: Runtime, shape: str):
    question = "how many days of leave"
    plain = await HybridRetriever(runtime.db.pool).search(question, k=3)
    fake = FakeRerank(favour={"weeks"})
    async with serve_rerank(fake) as base:
        url = f"{base}/v1/rerank" if shape == "documents" else f"{base}/rerank"
        reranker = HttpReranker(url, model="a-cross-encoder", request_format=shape)
        try:
            found = await HybridRetriever(runtime.db.pool, reranker=reranker).search(
                question, k=3
            )
        finally:
            await reranker.aclose()

    assert plain[0].title == "Annual leave"
    assert found[0].title == "Parental leave", [p.title for p in found]
    assert {p.title for p in found} == {p.title for p in plain}, "reranking only reorders"
    sent = fake.requests[0]
    assert sent["query"] == question
    texts = sent["documents"] if shape == "documents" else sent["texts"]
    assert any("20 weeks" in t for t in texts) and len(texts) == len(plain)
    assert (sent.get("model") == "a-cross-encoder") == (shape == "documents")


async def test_a_failing_reranker_leaves_the_fused_order(runtime: Runtime):
    question = "how many days of leave"
    plain = await HybridRetriever(runtime.db.pool).search(question, k=3)
    fake = FakeRerank(failing=True)
    async with serve_rerank(fake) as base:
        reranker = HttpReranker(f"{base}/v1/rerank")
        try:
            found = await HybridRetriever(runtime.db.pool, reranker=reranker).search(
                question, k=3
            )
            with pytest.raises(RerankError, match="503"):
                await reranker.rerank(question, ["a text"])
        finally:
            await reranker.aclose()

    assert [p.chunk_id for p in found] == [p.chunk_id for p in plain]
    assert fake.requests, "the endpoint was asked"


async def test_a_slow_reranker_times_out_and_the_fused_order_stands(runtime: Runtime):
    question = "how many days of leave"
    plain = await HybridRetriever(runtime.db.pool).search(question, k=3)
    fake = FakeRerank(favour={"weeks"}, delay=2.0)
    async with serve_rerank(fake) as base:
        reranker = HttpReranker(f"{base}/v1/rerank", timeout=0.2)
        try:
            found = await HybridRetriever(runtime.db.pool, reranker=reranker).search(
                question, k=3
            )
        finally:
            await reranker.aclose()

    assert [p.chunk_id for p in found] == [p.chunk_id for p in plain]


def test_no_rerank_endpoint_means_no_reranker(settings: Settings):
    assert HttpReranker.from_settings(settings) is None
    configured = settings.model_copy(update={"rerank_url": "http://127.0.0.1:9/rerank"})
    assert isinstance(HttpReranker.from_settings(configured), HttpReranker)
