"""Ingestion against real Postgres: skip unchanged, replace changed, refuse bad files cleanly."""

from __future__ import annotations

from pathlib import Path

from bots.runtime import Runtime


async def snapshot(runtime: Runtime) -> list[tuple]:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT d.uri, d.content_hash, d.updated_at, c.id, c.text
               FROM documents d JOIN chunks c ON c.document_id = d.id ORDER BY c.id"""
        )
        return await cur.fetchall()


async def chunk_texts(runtime: Runtime, uri_suffix: str) -> list[str]:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id
               WHERE d.uri LIKE %s ORDER BY c.ord""",
            ("%" + uri_suffix,),
        )
        return [r[0] for r in await cur.fetchall()]


async def test_sample_knowledge_base_ingests_every_kind(runtime: Runtime, knowledge_dir: Path):
    report = await runtime.ingestor.ingest([knowledge_dir])
    assert report.failed == []
    assert report.added >= 20
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT kind, count(*) FROM documents GROUP BY kind")
        kinds = dict(await cur.fetchall())
        cur = await conn.execute(
            "SELECT count(*) FROM chunks WHERE page_start IS NOT NULL AND page_start > 1"
        )
        later_pages = (await cur.fetchone())[0]
        cur = await conn.execute("SELECT DISTINCT domain FROM documents")
        domains = {r[0] for r in await cur.fetchall()}
    assert {"markdown", "html", "pdf"} <= set(kinds)
    assert kinds["pdf"] >= 2
    assert later_pages > 0, "PDF chunks keep their page numbers"
    assert domains == {"hr", "it", "policy"}


async def test_reingest_of_unchanged_folder_writes_nothing(runtime: Runtime, knowledge_dir: Path):
    await runtime.ingestor.ingest([knowledge_dir])
    before = await snapshot(runtime)

    report = await runtime.ingestor.ingest([knowledge_dir])

    assert (report.added, report.updated, report.chunks) == (0, 0, 0)
    assert report.unchanged == len({row[0] for row in before})
    assert await snapshot(runtime) == before


async def test_changed_file_replaces_its_chunks(runtime: Runtime, knowledge_dir: Path):
    await runtime.ingestor.ingest([knowledge_dir])
    target = knowledge_dir / "hr" / "annual-leave.md"
    old = await chunk_texts(runtime, "hr/annual-leave.md")
    others_before = [r for r in await snapshot(runtime) if not r[0].endswith("annual-leave.md")]

    target.write_text(
        target.read_text().replace("23 working days", "24 working days")
        + "\n\n## Volunteering days\n\nEvery associate may take two paid volunteering days a year.\n"
    )
    report = await runtime.ingestor.ingest([knowledge_dir])

    assert (report.added, report.updated) == (0, 1)
    new = await chunk_texts(runtime, "hr/annual-leave.md")
    joined = "\n".join(new)
    assert "24 working days" in joined and "23 working days" not in joined
    assert "two paid volunteering days" in joined
    assert not any("23 working days" in t for t in new) and any("23 working days" in t for t in old)
    # Nothing else was touched.
    others_after = [r for r in await snapshot(runtime) if not r[0].endswith("annual-leave.md")]
    assert others_after == others_before


async def test_deleted_file_is_removed_on_folder_reingest(runtime: Runtime, knowledge_dir: Path):
    await runtime.ingestor.ingest([knowledge_dir])
    (knowledge_dir / "it" / "laptops.md").unlink()
    report = await runtime.ingestor.ingest([knowledge_dir])
    assert report.removed == 1
    assert await chunk_texts(runtime, "it/laptops.md") == []


async def test_binary_file_is_refused_and_changes_nothing(runtime: Runtime, tmp_path: Path):
    fake = tmp_path / "photo.md"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")

    report = await runtime.ingestor.ingest([fake, image])

    assert report.added == 0
    messages = dict(report.failed)
    assert "binary" in messages[str(fake)]
    assert "not a kind I can read" in messages[str(image)]
    assert await snapshot(runtime) == []


async def test_corrupt_pdf_is_refused_and_the_index_keeps_its_old_version(
    runtime: Runtime, knowledge_dir: Path
):
    await runtime.ingestor.ingest([knowledge_dir])
    pdf = next(knowledge_dir.rglob("*.pdf"))
    before = await snapshot(runtime)

    pdf.write_bytes(b"%PDF-1.7\n1 0 obj <</Type /Catalog /Pages 2 0 R>> garbage\n%%EOF")
    report = await runtime.ingestor.ingest([pdf])

    assert report.added == report.updated == 0
    assert len(report.failed) == 1 and "not a readable PDF" in report.failed[0][1]
    assert await snapshot(runtime) == before
