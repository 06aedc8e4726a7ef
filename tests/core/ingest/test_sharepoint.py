"""SharePoint/OneDrive through a local Graph + Entra token endpoint, into real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.runtime import Runtime
from core.errors import IngestError
from core.ingest.connectors.sharepoint import SharePointLibrary
from store.retrieval import FullTextRetriever
from tests.core.ingest.helpers import everything, indexed
from tests.support.fake_graph import FakeGraph, running

LEAVE = "# Annual leave\n\nEvery associate gets 25 days of annual leave a year.\n"
VPN = "<html><head><title>VPN guide</title></head><body><h1>VPN</h1><p>Use GlobalConnect to reach the intranet.</p></body></html>"
README = "Plain notes: the canteen opens at eight."


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()
    fake.put("Policies/HR/annual-leave.md", LEAVE)
    fake.put("Policies/IT/vpn.html", VPN)
    fake.put("Policies/notes.txt", README)
    fake.put("Policies/photo.png", b"\x89PNG\r\n")
    fake.put("Elsewhere/other.md", "# Other\n\nNot in the folder we ingest.\n")
    async with running(fake, tmp_path) as ca_file:
        yield fake, ca_file


def library(fake: FakeGraph, ca_file: str, **overrides: str) -> SharePointLibrary:
    options = {
        "tenant_id": fake.tenant_id,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "site": f"{fake.hostname}:{fake.site_path}",
        "drive": "Documents",
        "folder": "/Policies",
    }
    options.update(overrides)
    return SharePointLibrary(
        **options,  # type: ignore[arg-type]
        graph_url=f"{fake.base_url}/v1.0",
        authority_host=fake.base_url,
        ca_file=ca_file,
    )


async def ingest(runtime: Runtime, source: SharePointLibrary):
    source.permissions = runtime.audiences
    try:
        return await runtime.ingestor.ingest_source(source)
    finally:
        await source.aclose()


async def test_library_folder_is_ingested_with_links_and_domains(runtime: Runtime, graph):
    fake, ca = graph
    report = await ingest(runtime, library(fake, ca))

    assert report.failed == [] and report.added == 3
    docs = {v[0]: v for v in (await indexed(runtime, "sharepoint")).values()}
    assert set(docs) == {"Annual leave", "VPN guide", "Plain notes: the canteen opens at eight."}
    assert docs["Annual leave"][1].endswith("Shared%20Documents/Policies/HR/annual-leave.md")
    assert "25 days" in docs["Annual leave"][2]
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT title, domain FROM documents WHERE source = 'sharepoint'")
        domains = dict(await cur.fetchall())
    assert domains["Annual leave"] == "hr" and domains["VPN guide"] == "it"
    # Paging was followed (page size 2) and a user can now find the document.
    passages = await FullTextRetriever(runtime.db.pool).search("annual leave days", k=3)
    assert passages and passages[0].title == "Annual leave"


async def test_unchanged_files_are_not_downloaded_again(runtime: Runtime, graph):
    fake, ca = graph
    await ingest(runtime, library(fake, ca))
    before = await everything(runtime)
    fake.requests.clear()

    report = await ingest(runtime, library(fake, ca))

    assert (report.added, report.updated, report.unchanged) == (0, 0, 3)
    assert fake.downloads() == []
    assert await everything(runtime) == before


async def test_changed_file_is_replaced_and_deleted_file_removed(runtime: Runtime, graph):
    fake, ca = graph
    await ingest(runtime, library(fake, ca))
    fake.put("Policies/HR/annual-leave.md", LEAVE.replace("25 days", "27 days"))
    fake.delete("Policies/IT/vpn.html")
    fake.requests.clear()

    report = await ingest(runtime, library(fake, ca))

    assert (report.updated, report.removed, report.unchanged) == (1, 1, 1)
    assert len(fake.downloads()) == 1
    docs = {v[0]: v for v in (await indexed(runtime, "sharepoint")).values()}
    assert "VPN guide" not in docs
    assert "27 days" in docs["Annual leave"][2] and "25 days" not in docs["Annual leave"][2]


async def test_wrong_secret_fails_clearly_and_keeps_the_index(runtime: Runtime, graph):
    fake, ca = graph
    await ingest(runtime, library(fake, ca))
    before = await everything(runtime)

    with pytest.raises(IngestError) as caught:
        await ingest(runtime, library(fake, ca, client_secret="wrong"))

    assert "Invalid client secret" in str(caught.value)
    assert "SHAREPOINT_CLIENT_SECRET" in str(caught.value)
    assert await everything(runtime) == before


@pytest.mark.parametrize("status", [401, 500])
async def test_graph_failure_keeps_the_index(runtime: Runtime, graph, status: int):
    fake, ca = graph
    await ingest(runtime, library(fake, ca))
    before = await everything(runtime)
    fake.fail_status = status

    with pytest.raises(IngestError) as caught:
        await ingest(runtime, library(fake, ca))

    assert f"HTTP {status}" in str(caught.value)
    assert await everything(runtime) == before


async def test_garbage_listing_keeps_the_index(runtime: Runtime, graph):
    fake, ca = graph
    await ingest(runtime, library(fake, ca))
    before = await everything(runtime)
    fake.garbage = True

    with pytest.raises(IngestError, match="not JSON"):
        await ingest(runtime, library(fake, ca))

    assert await everything(runtime) == before


async def test_unknown_library_names_the_libraries_there(runtime: Runtime, graph):
    fake, ca = graph
    with pytest.raises(IngestError, match="no library named 'Wiki'.*Documents"):
        await ingest(runtime, library(fake, ca, drive="Wiki"))
