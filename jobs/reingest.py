"""reingest: re-scan every source, re-embed what changed, drop what vanished, forget stale answers.

Sources are the folders and URLs in ``SWITCHBOARD_REINGEST_SOURCES``, everything someone ingested
before (``knowledge_sources``), and the SharePoint and Confluence connectors when configured.
The ingestor skips unchanged documents by content hash, so an hourly pass costs a listing and a
hash per file. A source that cannot be read is reported and left as it was indexed; a folder
that is missing (an unmounted share) removes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog
from psycopg_pool import AsyncConnectionPool

from core.errors import IngestError, SwitchboardError
from core.ingest.connectors.base import Source
from core.ingest.connectors.permissions import mirror_into
from core.ingest.connectors.web import WebPages, is_web_address
from core.ingest.pipeline import IngestReport
from core.ingest.sources import configured_sources, is_remote_target, sources_for
from core.settings import Settings
from jobs.registry import JobResult
from store.audiences import PgAudiences
from store.sources import KnowledgeSources

log = structlog.get_logger(__name__)


class SourceIngestor(Protocol):
    """What reingest needs of ``core.ingest.Ingestor``."""

    async def ingest(self, paths: Sequence[Path]) -> IngestReport: ...

    async def ingest_source(self, source: Source) -> IngestReport: ...


class CitedAnswerCache(Protocol):
    """Drops every cached answer that cited one of these documents."""

    async def invalidate_documents(self, document_ids: Sequence[int]) -> None: ...


class WholeCache(Protocol):
    """``core.llm.cache.AnswerCache``: it can only forget everything at once."""

    async def invalidate(self) -> None: ...


class WholeCacheInvalidation:
    """A ``CitedAnswerCache`` over a cache with no per-document index: any change drops all.

    SEAM: when the answer cache learns which documents each answer cited, give reingest the
    cache itself (it then implements ``invalidate_documents``) and only stale answers go.
    """

    def __init__(self, cache: WholeCache) -> None:
        self._cache = cache

    async def invalidate_documents(self, document_ids: Sequence[int]) -> None:
        if document_ids:
            await self._cache.invalidate()


@dataclass(frozen=True, slots=True)
class _Version:
    uri: str
    content_hash: str


@dataclass(slots=True)
class _Totals:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, report: IngestReport) -> None:
        self.added += report.added
        self.updated += report.updated
        self.unchanged += report.unchanged
        self.removed += report.removed
        self.failed.extend(f"{where}: {why}" for where, why in report.failed)
        self.notes.extend(report.notes)


RemoteSources = Callable[[], Sequence[Source]]
TargetSources = Callable[[str], Sequence[Source]]


def remote_sources(settings: Settings) -> RemoteSources:
    """SharePoint and Confluence as the settings configure them, made fresh for each run (each
    holds an HTTP session the run closes)."""
    return lambda: configured_sources(settings)


def target_sources(settings: Settings) -> TargetSources:
    """The sources a remembered remote target names ('sharepoint', 'confluence:KEY')."""
    return lambda target: sources_for(target, settings)


class Reingest:
    """The reingest job. Call it (no arguments) to run once."""

    def __init__(
        self,
        ingestor: SourceIngestor,
        *,
        pool: AsyncConnectionPool,
        sources: KnowledgeSources,
        configured: Sequence[str] = (),
        remote: RemoteSources = lambda: (),
        targets: TargetSources | None = None,
        answer_cache: CitedAnswerCache | None = None,
        web_timeout: float = 20.0,
        allowed_hosts: Sequence[str] = (),
    ) -> None:
        self._ingestor = ingestor
        self._pool = pool
        self._sources = sources
        self._configured = tuple(configured)
        self._remote = remote
        self._targets = targets
        self._answer_cache = answer_cache
        self._web_timeout = web_timeout
        self._allowed_hosts = tuple(allowed_hosts)
        self._permissions = PgAudiences(pool)

    async def __call__(self) -> JobResult:
        uris = list(dict.fromkeys([*self._configured, *(s.uri for s in await self._sources.all())]))
        remote = list(self._remote())
        totals = _Totals()
        broken: list[str] = []
        scanned = 0
        named = [u for u in uris if is_remote_target(u) and not is_web_address(u)]
        for target in named:
            # 'sharepoint' or 'confluence:KEY' remembered from an ingest; skip what the
            # settings already bring.
            try:
                found = list(self._targets(target)) if self._targets else []
            except SwitchboardError as exc:
                scanned += 1
                broken.append(target)
                totals.failed.append(f"{target}: {exc}")
                await self._sources.record_scan(target, "failed", str(exc)[:1000])
                continue
            have = {(s.kind, s.scope) for s in remote}
            for source in found:
                if (source.kind, source.scope) in have:
                    await source.aclose()
                else:
                    remote.append(source)
        uris = [u for u in uris if u not in named]
        if not uris and not remote and not broken:
            return JobResult(
                summary="No sources to re-scan (ingest a folder or URL, or set "
                "SWITCHBOARD_REINGEST_SOURCES).",
                skipped=True,
            )
        before = await self._versions()
        for uri in (u for u in uris if not is_web_address(u)):
            scanned += 1
            path = Path(uri)
            await self._scan(uri, lambda p=path: self._ingestor.ingest([p]), [uri], totals, broken)
        pages = [u for u in uris if is_web_address(u)]
        if pages:
            remote.insert(0, WebPages(pages, timeout=self._web_timeout, allowed_hosts=self._allowed_hosts))
        for source in remote:
            scanned += 1
            web = isinstance(source, WebPages)
            mirror_into([source], self._permissions)  # who may read each item, at each listing
            try:
                await self._scan(
                    "web pages" if web else source.kind,
                    lambda s=source: self._ingestor.ingest_source(s),
                    pages if web else [],
                    totals,
                    broken,
                )
            finally:
                await source.aclose()
        after = await self._versions()
        changed = [
            doc_id
            for doc_id, version in before.items()
            if doc_id not in after or after[doc_id].content_hash != version.content_hash
        ]
        invalidated = await self._invalidate(changed)
        counts = {
            "sources": scanned,
            "added": totals.added,
            "updated": totals.updated,
            "unchanged": totals.unchanged,
            "removed": totals.removed,
            "failed": len(totals.failed),
            "changed_documents": len(changed),
            "cache_invalidated": int(invalidated),
        }
        if broken and len(broken) == scanned:
            raise IngestError("No source could be read: " + "; ".join(totals.failed)[:1500])
        summary = (
            f"Re-scanned {scanned} sources: {totals.added} added, {totals.updated} updated, "
            f"{totals.unchanged} unchanged, {totals.removed} removed"
            + ("; cached answers invalidated." if invalidated else ".")
        )
        return JobResult(
            summary=summary, counts=counts, details=[*totals.failed, *totals.notes]
        )

    async def _scan(
        self,
        label: str,
        run: Callable[[], Awaitable[IngestReport]],
        recorded: Sequence[str],
        totals: _Totals,
        broken: list[str],
    ) -> None:
        """Run one source's ingest; note its outcome on the registry rows in ``recorded``."""
        try:
            report = await run()
        except SwitchboardError as exc:
            broken.append(label)
            totals.failed.append(f"{label}: {exc}")
            log.warning("reingest_source_failed", source=label, error=str(exc))
            outcome, error = "failed", str(exc)[:1000]
        else:
            totals.add(report)
            outcome = "failed" if report.failed else "succeeded"
            error = "; ".join(f"{w}: {e}" for w, e in report.failed)[:1000] or None
            if report.failed and not (report.added or report.updated or report.unchanged):
                # Nothing could be read at all (a missing folder reports, it does not raise).
                broken.append(label)
        for uri in recorded:
            await self._sources.record_scan(uri, outcome, error)

    async def _versions(self) -> dict[int, _Version]:
        async with self._pool.connection() as conn:
            # A changed audience counts as a change: cached answers citing it are dropped.
            cur = await conn.execute(
                """SELECT id, uri, content_hash || coalesce(audience::text, '') FROM documents"""
            )
            return {int(i): _Version(u, h) for i, u, h in await cur.fetchall()}

    async def _invalidate(self, document_ids: list[int]) -> bool:
        """Tell the answer cache which documents changed; whether there was one to tell."""
        if not document_ids or self._answer_cache is None:
            return False
        await self._answer_cache.invalidate_documents(document_ids)
        return True
