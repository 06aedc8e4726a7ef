"""The HNSW index's form on each pgvector, and searches that actually walk it.

A search whose distance is not written as the index is (say ``embedding <=> q`` against an
index over ``embedding::halfvec(N)``) still answers, by reading every vector: right at five
documents, seconds a question at a million. So these tests check that the index was used, with
sequential scans discouraged for the database user (a tiny table would otherwise be scanned).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from bots.runtime import Runtime
from core.settings import Settings
from store.retrieval import HybridRetriever, HybridWeights
from store.vector_index import INDEX_NAME
from tests.store.test_retrieval import DOCS, embedding_settings, write


def on(url: str, tmp_path: Path, fake_openai: tuple[object, str]) -> Settings:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER ROLE CURRENT_USER SET enable_seqscan = off")
    plain = Settings(_env_file=None, database_url=url, data_dir=tmp_path / "data",
                     sample_knowledge=None, port=0)
    return embedding_settings(plain, fake_openai[1])


async def index_definition(rt: Runtime) -> str:
    async with rt.db.pool.connection() as conn:
        cur = await conn.execute("SELECT pg_get_indexdef(to_regclass(%s))", (INDEX_NAME,))
        return (await cur.fetchone())[0]


async def walks(rt: Runtime) -> int:
    async with rt.db.pool.connection() as conn:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        cur = await conn.execute(
            "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE indexrelname = %s",
            (INDEX_NAME,),
        )
        return int((await cur.fetchone())[0])


async def search_by_meaning(rt: Runtime, question: str) -> tuple[list[str], bool]:
    """Titles found by the vector ranking alone, and whether the HNSW index was walked."""
    before = await walks(rt)
    found = await HybridRetriever(rt.db.pool, embedder=rt.embedder,
                                  weights=HybridWeights(text=0)).search(question, k=3)
    for _ in range(100):  # a backend reports its counters within about a second
        if await walks(rt) > before:
            return [p.title for p in found], True
        await asyncio.sleep(0.1)
    return [p.title for p in found], False


async def test_pgvector_08_indexes_half_precision_and_searches_walk_it(
    pgvector08_url: str, tmp_path: Path, fake_openai: tuple[object, str]
):
    async with await Runtime.start(on(pgvector08_url, tmp_path, fake_openai)) as rt:
        report = await rt.ingestor.ingest([write(tmp_path / "kb", DOCS)])
        assert report.embedded == report.chunks > 0

        assert "halfvec(64)" in await index_definition(rt)
        titles, walked = await search_by_meaning(rt, "vacation entitlement")
        assert titles[0] == "Holiday allowance"
        assert walked, "the search read every vector instead of walking the index"


async def test_pgvector_06_indexes_the_column_and_searches_walk_it(
    database_url: str, tmp_path: Path, fake_openai: tuple[object, str]
):
    async with await Runtime.start(on(database_url, tmp_path, fake_openai)) as rt:
        await rt.ingestor.ingest([write(tmp_path / "kb", DOCS)])

        definition = await index_definition(rt)
        assert "vector_cosine_ops" in definition and "halfvec" not in definition
        titles, walked = await search_by_meaning(rt, "vacation entitlement")
        assert titles[0] == "Holiday allowance"
        assert walked


async def test_a_full_precision_index_kept_after_an_upgrade_is_still_walked(
    pgvector08_url: str, tmp_path: Path, fake_openai: tuple[object, str]
):
    """A deployment that upgraded pgvector keeps its index until the next rebuild, and
    searches follow the form it has."""
    settings = on(pgvector08_url, tmp_path, fake_openai)
    folder = write(tmp_path / "kb", DOCS)
    async with await Runtime.start(settings) as rt:
        await rt.ingestor.ingest([folder])
        async with rt.db.pool.connection() as conn:
            await conn.execute(f"DROP INDEX {INDEX_NAME}")
            await conn.execute(f"CREATE INDEX {INDEX_NAME} ON chunks USING hnsw"
                               " (embedding vector_cosine_ops)")

    async with await Runtime.start(settings) as rt:
        report = await rt.ingestor.ingest([folder])  # nothing changed: the index stays
        assert report.unchanged == len(DOCS)
        assert "halfvec" not in await index_definition(rt)
        titles, walked = await search_by_meaning(rt, "pto")
        assert titles[0] == "Holiday allowance"
        assert walked


ROOMS = {
    f"rooms/room-{i:03d}.md": f"# Room {i}\n\nRoom {i} on floor {i % 7} seats {4 + i % 9} people "
    f"and has {('a screen', 'a whiteboard', 'a phone', 'two screens')[i % 4]}.\n"
    for i in range(120)
}


async def many_passages(url: str, tmp_path: Path, fake_openai: tuple[object, str]) -> None:
    """The walk is as broad as the passages asked for: pgvector returns at most
    ``hnsw.ef_search`` rows, 40 unless the question's own statement widens it."""
    async with await Runtime.start(on(url, tmp_path, fake_openai)) as rt:
        report = await rt.ingestor.ingest([write(tmp_path / "kb", ROOMS)])
        assert report.embedded == report.chunks == len(ROOMS)
        before = await walks(rt)
        found = await HybridRetriever(rt.db.pool, embedder=rt.embedder, candidates=60,
                                      weights=HybridWeights(text=0)).search("meeting room", k=50)

        assert len({p.title for p in found}) == 50
        for _ in range(100):  # a backend reports its counters within about a second
            if await walks(rt) > before:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the search read every vector instead of walking the index")


async def test_pgvector_06_gives_as_many_passages_as_asked(
    database_url: str, tmp_path: Path, fake_openai: tuple[object, str]
):
    await many_passages(database_url, tmp_path, fake_openai)


async def test_pgvector_08_gives_as_many_passages_as_asked(
    pgvector08_url: str, tmp_path: Path, fake_openai: tuple[object, str]
):
    await many_passages(pgvector08_url, tmp_path, fake_openai)


# Nine HR pages among 900: a filter keeping 1 % of the chunks.
DESKS = {
    **{f"desks/desk-{i:03d}.md": f"# Desk {i}\n\nDesk {i} is on floor {i % 7} near "
       f"{('the window', 'the kitchen', 'the lifts', 'the stairs')[i % 4]}; book it a day ahead.\n"
       for i in range(891)},
    **{f"hr/leave-{i}.md": f"# Leave rule {i}\n\nRule {i}: a desk is kept for anyone on parental "
       f"leave for {i + 2} weeks after they return.\n" for i in range(9)},
}


async def rare_filter(
    url: str, tmp_path: Path, fake_openai: tuple[object, str], exact_factor: int
) -> None:
    """Nine web pages among 900 chunks. A filter applies to what the walk found, and a walk
    only as wide as for an unfiltered question (or four times that) reaches one or two of them:
    the question must still get the five passages it asked for, all from the web. Ranked
    exactly (the filter keeps few chunks) or walked (``exact_factor`` 0)."""
    async with await Runtime.start(on(url, tmp_path, fake_openai)) as rt:
        report = await rt.ingestor.ingest([write(tmp_path / "kb", DESKS)])
        assert report.embedded == report.chunks == len(DESKS)
        async with rt.db.pool.connection() as conn:  # as if a web connector had brought them
            await conn.execute("UPDATE documents SET source = 'web' WHERE domain = 'hr'")
            await conn.execute("ANALYZE documents")
        found = await HybridRetriever(rt.db.pool, embedder=rt.embedder, exact_factor=exact_factor,
                                      weights=HybridWeights(text=0)).search(
            "booking a desk", k=5, sources=["web"])

        assert [p.domain for p in found] == ["hr"] * 5
        assert len({p.title for p in found}) == 5


@pytest.mark.parametrize("exact_factor", [10, 0], ids=["exact", "walked"])
async def test_pgvector_06_a_rare_filter_still_gets_its_passages(
    database_url: str, tmp_path: Path, fake_openai: tuple[object, str], exact_factor: int
):
    await rare_filter(database_url, tmp_path, fake_openai, exact_factor)


@pytest.mark.parametrize("exact_factor", [10, 0], ids=["exact", "walked"])
async def test_pgvector_08_a_rare_filter_still_gets_its_passages(
    pgvector08_url: str, tmp_path: Path, fake_openai: tuple[object, str], exact_factor: int
):
    await rare_filter(pgvector08_url, tmp_path, fake_openai, exact_factor)
