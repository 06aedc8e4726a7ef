"""reingest against real Postgres and a real folder: what changed is re-read, what vanished goes."""

from __future__ import annotations

from pathlib import Path

from bots.runtime import Runtime
from core.ingest import Ingestor
from core.ingest.chunking import Chunker
from core.llm.cache import CachedAnswer, MemoryAnswerCache
from core.settings import Settings
from jobs.catalog import REINGEST
from jobs.reingest import Reingest, WholeCacheInvalidation
from store.knowledge import PgKnowledgeStore
from store.sources import KnowledgeSources

NEW_RULE = "Annual leave requests now need two weeks notice via the Zephyrine portal."


async def indexed(runtime: Runtime) -> dict[str, str]:
    """Each indexed document's uri and all its chunk text."""
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT d.uri, string_agg(c.text, ' ' ORDER BY c.ord)
               FROM documents d JOIN chunks c ON c.document_id = d.id GROUP BY d.uri"""
        )
        return dict(await cur.fetchall())


async def test_reingest_picks_up_a_changed_file_and_drops_a_deleted_one(
    settings: Settings, knowledge_dir: Path
):
    configured = settings.model_copy(update={"reingest_sources": (str(knowledge_dir),)})
    async with await Runtime.start(configured) as rt:
        first = await rt.ingestor.ingest([knowledge_dir])
        assert not first.failed
        changed = knowledge_dir / "hr" / "annual-leave.md"
        deleted = knowledge_dir / "hr" / "sick-leave.md"
        changed.write_text(changed.read_text() + f"\n\n## Notice\n\n{NEW_RULE}\n")
        deleted.unlink()

        assert rt.jobs is not None
        report = await rt.jobs.run_now(REINGEST)
        after = await indexed(rt)

    assert report.run.outcome == "succeeded", report.run.error
    counts = report.run.counts
    assert (counts["updated"], counts["removed"], counts["added"]) == (1, 1, 0), counts
    assert counts["unchanged"] == first.added - 2
    assert str(deleted) not in after
    assert "Zephyrine portal" in after[str(changed)]


async def test_reingest_rescans_what_was_ingested_before(runtime: Runtime, knowledge_dir: Path):
    await runtime.ingestor.ingest([knowledge_dir])
    await KnowledgeSources(runtime.db.pool).add(str(knowledge_dir.resolve()), added_by="cli")
    (knowledge_dir / "hr" / "new-policy.md").write_text(f"# Notice periods\n\n{NEW_RULE}\n")

    assert runtime.jobs is not None
    report = await runtime.jobs.run_now(REINGEST)

    assert report.run.outcome == "succeeded", report.run.error
    assert report.run.counts["added"] == 1
    assert any("Zephyrine" in text for text in (await indexed(runtime)).values())
    (source,) = await KnowledgeSources(runtime.db.pool).all()
    assert source.last_outcome == "succeeded" and source.last_scanned_at is not None


async def test_a_missing_folder_removes_nothing_and_the_run_fails(
    settings: Settings, knowledge_dir: Path
):
    configured = settings.model_copy(update={"reingest_sources": (str(knowledge_dir),)})
    async with await Runtime.start(configured) as rt:
        await rt.ingestor.ingest([knowledge_dir])
        before = await indexed(rt)
        knowledge_dir.rename(knowledge_dir.with_name("unmounted"))

        assert rt.jobs is not None
        report = await rt.jobs.run_now(REINGEST)
        after = await indexed(rt)

    assert report.run.outcome == "failed"
    assert "does not exist" in (report.run.error or "")
    assert after == before


async def test_with_no_sources_reingest_is_skipped(runtime: Runtime):
    assert runtime.jobs is not None
    report = await runtime.jobs.run_now(REINGEST)
    assert report.run.outcome == "skipped"
    assert "No sources" in (report.run.error or "")


async def test_cached_answers_are_dropped_only_when_a_document_changed(
    runtime: Runtime, knowledge_dir: Path
):
    cache = MemoryAnswerCache(ttl=3600)
    job = Reingest(
        Ingestor(PgKnowledgeStore(runtime.db.pool), chunker=Chunker()),
        pool=runtime.db.pool,
        sources=KnowledgeSources(runtime.db.pool),
        configured=[str(knowledge_dir)],
        answer_cache=WholeCacheInvalidation(cache),
    )
    await job()
    await cache.put("hr", "how much annual leave do i get", CachedAnswer(text="25 days [1]"))

    unchanged = await job()
    assert unchanged.counts["changed_documents"] == 0
    assert await cache.get("hr", "how much annual leave do i get") is not None

    leave = knowledge_dir / "hr" / "annual-leave.md"
    leave.write_text(leave.read_text() + f"\n\n{NEW_RULE}\n")
    changed = await job()
    assert changed.counts["changed_documents"] == 1 and changed.counts["cache_invalidated"] == 1
    assert await cache.get("hr", "how much annual leave do i get") is None


async def test_a_remembered_source_that_is_no_longer_configured_fails_with_its_reason(
    runtime: Runtime, knowledge_dir: Path
):
    sources = KnowledgeSources(runtime.db.pool)
    await sources.add("sharepoint", added_by="admin")
    await sources.add(str(knowledge_dir.resolve()), added_by="cli")
    assert runtime.jobs is not None
    report = await runtime.jobs.run_now(REINGEST)

    # The folder is still re-scanned; the SharePoint target says what is missing.
    assert report.run.outcome == "succeeded", report.run.error
    assert report.run.counts["added"] > 0 and report.run.counts["failed"] == 1
    assert report.result is not None
    assert any("SharePoint is not configured" in line for line in report.result.details)
    status = {s.uri: s for s in await sources.all()}
    assert status["sharepoint"].last_outcome == "failed"
