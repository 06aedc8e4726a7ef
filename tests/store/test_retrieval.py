"""Hybrid retrieval against real Postgres + pgvector, with embeddings from a local fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.runtime import Runtime
from bots.server import catch_up_embeddings
from core.embeddings import OpenAIEmbedder
from core.errors import IngestError
from core.settings import Settings
from store.jobs import advisory_lock
from store.knowledge import PgKnowledgeStore
from store.retrieval import FullTextRetriever, HybridRetriever, HybridWeights

DOCS = {
    "hr/holiday.md": "# Holiday allowance\n\nEvery associate gets 25 days of paid holiday a year, "
    "plus public holidays. Book it in the People portal.\n",
    "it/printer-codes.md": "# Printer trouble\n\nThe printer shows code E4471 when its paper tray "
    "is jammed: open the tray, remove the paper, close it again.\n",
    "it/vpn.md": "# VPN\n\nWhat does the VPN do? What does it need? The VPN does what it does: it "
    "connects what you do at home to the office network.\n",
    "it/wifi.md": "# Wi-Fi\n\nWhat does the Wi-Fi do? What does it do for guests? Guests do what "
    "the Visitors network does.\n",
    "policy/desk.md": "# Desks\n\nWhat does a clean desk do? What does it do for security? It does "
    "what it should do.\n",
}


def embedding_settings(settings: Settings, url: str, model: str = "fake-a", dims: int = 64) -> Settings:
    return settings.model_copy(
        update={"openai_base_url": url, "embedding_model": model, "embedding_dimensions": dims}
    )


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture
async def hybrid(settings: Settings, fake_openai, tmp_path: Path) -> AsyncIterator[Runtime]:
    _, url = fake_openai
    async with await Runtime.start(embedding_settings(settings, url)) as rt:
        report = await rt.ingestor.ingest([write(tmp_path / "kb", DOCS)])
        assert report.failed == [] and report.embedded == report.chunks > 0
        yield rt


def retriever(rt: Runtime, *, text: float = 1.0, vector: float = 1.0) -> HybridRetriever:
    return HybridRetriever(
        rt.db.pool, embedder=rt.embedder, weights=HybridWeights(text=text, vector=vector)
    )


async def test_hybrid_finds_by_meaning_what_full_text_misses(hybrid: Runtime):
    question = "vacation entitlement"
    full_text = await FullTextRetriever(hybrid.db.pool).search(question, k=3)
    found = await retriever(hybrid).search(question, k=3)

    assert all(p.title != "Holiday allowance" for p in full_text)
    assert found[0].title == "Holiday allowance"
    assert found[0].path and found[0].path.endswith("hr/holiday.md")


async def test_hybrid_finds_an_exact_code_that_vectors_alone_miss(hybrid: Runtime):
    question = "What does E4471 mean?"
    vectors_only = await retriever(hybrid, text=0).search(question, k=3)
    found = await retriever(hybrid).search(question, k=3)

    assert "Printer trouble" not in [p.title for p in vectors_only]
    assert found[0].title == "Printer trouble"


async def test_assistant_answers_from_hybrid_retrieval(hybrid: Runtime):
    passages = await hybrid.assistant._retriever.search("vacation days", k=2)
    assert passages[0].title == "Holiday allowance"


@pytest.mark.parametrize("weights", [{"text": 1, "vector": 1}, {"text": 0, "vector": 1},
                                     {"text": 1, "vector": 0}])
async def test_domain_filter_holds_in_every_ranking(hybrid: Runtime, weights):
    found = await retriever(hybrid, **weights).search(
        "What does the printer holiday VPN do?", k=5, domains=["it"]
    )
    assert found and {p.domain for p in found} == {"it"}
    none = await retriever(hybrid, **weights).search("holiday", k=5, domains=["finance"])
    assert none == []


async def test_source_filter_holds(hybrid: Runtime):
    assert await retriever(hybrid).search("holiday", k=5, sources=["confluence"]) == []
    found = await retriever(hybrid).search("holiday", k=5, sources=["folder"])
    assert found[0].title == "Holiday allowance"


async def test_overlapping_chunks_are_merged_and_duplicates_dropped(settings, fake_openai, tmp_path):
    _, url = fake_openai
    steps = " ".join(f"Step {i}: check the badge reader number {i} and log it." for i in range(40))
    files = {
        "it/badges.md": f"# Badges\n\n{steps}\n",
        "it/badges-copy.md": f"# Badges (copy)\n\n{steps}\n",
    }
    tuned = embedding_settings(settings, url).model_copy(
        update={"chunk_size": 400, "chunk_overlap": 120}
    )
    async with await Runtime.start(tuned) as rt:
        await rt.ingestor.ingest([write(tmp_path / "kb", files)])
        found = await retriever(rt).search("badge reader number log", k=5)

    texts = [p.text for p in found]
    for i, text in enumerate(texts):
        others = texts[:i] + texts[i + 1:]
        assert not any(text in other or other in text for other in others), "a copy was shown"
    for passage in found:
        # A merged passage says its overlap once: no sentence appears twice in it.
        sentences = [s for s in passage.text.split(". ") if s]
        assert len(sentences) == len(set(sentences))
    assert any(len(p.text) > 400 for p in found), "adjacent chunks were merged"


async def test_changed_embedding_model_forces_a_reembed(settings, fake_openai, tmp_path):
    server, url = fake_openai
    folder = write(tmp_path / "kb", DOCS)
    async with await Runtime.start(embedding_settings(settings, url, "fake-a", 64)) as old:
        await old.ingestor.ingest([folder])
        chunks = await old.knowledge.count_chunks()

        async with await Runtime.start(embedding_settings(settings, url, "fake-b", 32)) as rt:
            # At start the old space is gone at once: no fake-a vector is left to mix with.
            async with rt.db.pool.connection() as conn:
                cur = await conn.execute("SELECT count(embedding) FROM chunks")
                assert (await cur.fetchone())[0] == 0
            assert await retriever(rt, text=0).search("vacation", k=3) == []
            assert await retriever(old, text=0).search("vacation", k=3) == []

            server.requests.clear()
            report = await rt.ingestor.ingest([folder])

            assert report.unchanged == len(DOCS) and report.embedded == chunks
            embedded = [b for kind, b in server.requests if kind == "embeddings"]
            assert {b["model"] for b in embedded} == {"fake-b"}
            async with rt.db.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*), min(vector_dims(embedding)), max(vector_dims(embedding))"
                    " FROM chunks"
                )
                assert await cur.fetchone() == (chunks, 32, 32)
                cur = await conn.execute(
                    "SELECT indexdef FROM pg_indexes WHERE indexdef LIKE '%USING hnsw%'"
                )
                assert "vector_cosine_ops" in (await cur.fetchone())[0]
            found = await retriever(rt, text=0).search("vacation", k=1)
            assert found[0].title == "Holiday allowance"

            # A replica still configured with the old model cannot write into the new space.
            (folder / "hr" / "holiday.md").write_text(DOCS["hr/holiday.md"] + "\nNew rule.\n")
            with pytest.raises(IngestError, match="fake-b"):
                await old.ingestor.ingest([folder])
            async with rt.db.pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) FROM chunks WHERE text LIKE '%New rule%'")
                assert (await cur.fetchone())[0] == 0


async def test_without_an_embedding_model_full_text_answers(runtime: Runtime, tmp_path: Path):
    await runtime.ingestor.ingest([write(tmp_path / "kb", DOCS)])
    assert runtime.embedder is None
    found = await runtime.assistant._retriever.search("holiday allowance", k=3)
    assert found[0].title == "Holiday allowance"
    assert await PgKnowledgeStore(runtime.db.pool).embedding_space() is None


async def test_embedding_endpoint_down_at_ask_time_falls_back_to_full_text(hybrid, fake_openai):
    server, _ = fake_openai
    server.behaviour.fail_status = 500
    found = await HybridRetriever(
        hybrid.db.pool,
        embedder=OpenAIEmbedder(model="fake-a", base_url=str(hybrid.settings.openai_base_url),
                                max_retries=0),
    ).search("holiday allowance", k=3)
    assert found[0].title == "Holiday allowance"


async def test_large_first_load_ends_with_the_vector_index_in_place(
    settings, fake_openai, tmp_path
):
    _, url = fake_openai
    files = {f"it/topic-{i}.md": f"# Topic {i}\n\nNotes about gadget{i} and its manual.\n"
             for i in range(60)}
    async with await Runtime.start(embedding_settings(settings, url)) as rt:
        report = await rt.ingestor.ingest([write(tmp_path / "kb", files)])
        assert report.added == 60 and report.embedded == report.chunks
        async with rt.db.pool.connection() as conn:
            cur = await conn.execute(
                """SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'hnsw'"""
            )
            assert await cur.fetchall() == [(True,)]
        found = await retriever(rt, text=0).search("gadget42 manual", k=3)
        assert len(found) == 3


async def test_documents_ingested_while_embeddings_are_down_are_embedded_later(
    settings, fake_openai, tmp_path
):
    server, url = fake_openai
    folder = write(tmp_path / "kb", DOCS)
    tuned = embedding_settings(settings, url).model_copy(update={"embedding_batch_size": 2})
    async with await Runtime.start(tuned) as rt:
        server.behaviour.fail_status = 503
        report = await rt.ingestor.ingest([folder])

        assert report.added == len(DOCS) and report.embedded == 0
        assert [where for where, _ in report.failed] == ["embeddings"]
        assert "503" in report.failed[0][1]
        # Full text answers meanwhile.
        found = await retriever(rt).search("holiday allowance", k=1)
        assert found[0].title == "Holiday allowance"

        server.behaviour.fail_status = None
        again = await rt.ingestor.ingest([folder])
        assert again.unchanged == len(DOCS) and again.embedded == report.chunks
        assert again.failed == []
        found = await retriever(rt, text=0).search("vacation", k=1)
        assert found[0].title == "Holiday allowance"


async def test_a_serving_replica_embeds_what_a_model_change_left_without_vectors(
    settings, fake_openai, tmp_path
):
    server, url = fake_openai
    folder = write(tmp_path / "kb", DOCS)
    async with await Runtime.start(embedding_settings(settings, url, "fake-a", 64)) as old:
        await old.ingestor.ingest([folder])
        chunks = await old.knowledge.count_chunks()

    async with await Runtime.start(embedding_settings(settings, url, "fake-b", 32)) as rt:
        # Nobody ingests: the server catches up by itself, one replica at a time.
        async with advisory_lock(rt.db.url, "embedding-catch-up"):
            assert await catch_up_embeddings(rt) == 0, "a second replica would embed again"
        assert await retriever(rt, text=0).search("vacation", k=1) == []

        assert await catch_up_embeddings(rt) == chunks

        found = await retriever(rt, text=0).search("vacation", k=1)
        assert found and found[0].title == "Holiday allowance"
        assert {b["model"] for kind, b in server.requests if kind == "embeddings"} >= {"fake-b"}
