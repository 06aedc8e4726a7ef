"""Ingest files, folders and remote sources: skip what is unchanged, replace what changed,
drop what vanished; embed in batches; keep the vectors in one model's space.

While one batch of documents is being read, earlier ones are embedding (several at once when the
embedder can keep requests in flight) and the oldest is being written: reading, embedding and
writing overlap, and batches are still written one at a time, in the order they were read.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from core.errors import IngestError, ModelError
from core.ingest.chunking import Chunker
from core.ingest.connectors.base import RemoteItem, Source
from core.ingest.documents import ChunkDraft, LoadedDocument
from core.ingest.loaders import content_hash, is_supported, load_file
from core.ingest.locations import mapped_url, shown_path
from core.ingest.protocols import (
    BulkEmbedder,
    Embedder,
    IngestReport,
    KnowledgeStore,
    PendingChunk,
    embedding_input,
)

__all__ = [
    "BulkEmbedder",
    "Embedder",
    "IngestReport",
    "Ingestor",
    "KnowledgeStore",
    "PendingChunk",
    "embedding_input",
]

log = structlog.get_logger(__name__)

Progress = Callable[[str], None]


def _walk(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and is_supported(p)
        and p.name.lower() != "readme.md"
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


@dataclass(slots=True)
class _Pending:
    document: LoadedDocument
    chunks: list[ChunkDraft]
    new: bool


@dataclass(slots=True)
class _Run:
    """One ingest's state, so that two ingests through one Ingestor never mix batches."""

    report: IngestReport
    buffer: list[_Pending] = field(default_factory=list)
    # Batches read but not yet written, oldest first; each embeds, then writes after the one
    # before it.
    batches: deque[asyncio.Task[None]] = field(default_factory=deque)
    # Set by the first batch the embedder fails: the rest of the run stores text only (a
    # dead endpoint costs one batch's retries, not every batch's), and backfill catches up.
    embeddings_down: bool = False

    def fail_embeddings(self, exc: ModelError) -> None:
        self.embeddings_down = True
        if not any(where == "embeddings" for where, _ in self.report.failed):
            self.report.failed.append(("embeddings", str(exc)))
        log.warning("embeddings_unavailable", error=str(exc))


class Ingestor:
    """Reads paths and sources into a KnowledgeStore.

    A document's content hash (salted with the chunker's settings) decides whether it is
    re-chunked; a folder ingest also removes documents under it that no longer exist.
    Chunks of several documents are embedded together and written in one COPY. With a
    ``BulkEmbedder``, up to its ``concurrency`` batches embed at once.
    """

    def __init__(
        self,
        store: KnowledgeStore,
        *,
        chunker: Chunker,
        embedder: Embedder | None = None,
        batch_chunks: int = 256,
        source_url_base: str | None = None,
    ) -> None:
        self._store = store
        # Files are shown by their path in the ingested folder, linked under this base when
        # an operator maps the folder to the intranet (core/ingest/locations.py).
        self._source_url_base = source_url_base
        self._chunker = chunker
        self._embedder = embedder
        self._batch_chunks = max(1, batch_chunks)
        self._space_ready = False
        # How many batches may be between read and written, and how a batch is embedded.
        self._embed_batch: Callable[[Sequence[str]], Awaitable[list[list[float]]]] | None = None
        self._lanes = 1
        if isinstance(embedder, BulkEmbedder):
            self._embed_batch = embedder.embed_many
            self._lanes = max(1, embedder.concurrency)
        elif embedder is not None:
            self._embed_batch = embedder.embed

    # -- the vector space ------------------------------------------------------------------

    async def prepare_embeddings(self) -> bool:
        """Bind the index to the embedder's model; True when that dropped vectors of another.

        Raises ``ModelError`` when the embedder must be asked its dimension and cannot answer.
        """
        if self._embedder is None:
            return False
        dimensions = self._embedder.dimensions
        if dimensions is None:
            dimensions = len((await self._embedder.embed(["dimension probe"]))[0])
        changed = await self._store.use_embedding_space(self._embedder.model, dimensions)
        self._space_ready = True
        return changed

    async def backfill(self, report: IngestReport | None = None) -> int:
        """Embed every chunk that has no vector yet (after a model change, or chunks written
        while the embedding endpoint was down). Returns how many were embedded."""
        if self._embedder is None or self._embed_batch is None:
            return 0
        if not self._space_ready:
            await self.prepare_embeddings()
        done = 0
        after = 0
        pages: deque[asyncio.Task[int]] = deque()
        try:
            while True:
                pending = await self._store.pending_embeddings(
                    after=after, limit=self._batch_chunks
                )
                if not pending:
                    break
                after = pending[-1].id
                pages.append(asyncio.create_task(self._backfill_page(pending)))
                while len(pages) >= self._lanes:
                    done += await pages.popleft()
            while pages:
                done += await pages.popleft()
        finally:
            await _abandon(pages)
        if report is not None:
            report.embedded += done
        if done:
            log.info("embeddings_backfilled", chunks=done, model=self._embedder.model)
        return done

    async def _backfill_page(self, pending: Sequence[PendingChunk]) -> int:
        assert self._embed_batch is not None
        vectors = await self._embed_batch(
            [embedding_input(c.title, c.section, c.text) for c in pending]
        )
        return await self._store.write_embeddings([c.id for c in pending], vectors)

    # -- files and folders -----------------------------------------------------------------

    def plan(self, paths: Iterable[Path]) -> tuple[list[Path], list[Path], list[tuple[str, str]]]:
        """Files to read, folders to prune, and paths that cannot be read at all."""
        files: list[Path] = []
        folders: list[Path] = []
        problems: list[tuple[str, str]] = []
        for raw in paths:
            path = raw.expanduser().resolve()
            if path.is_dir():
                folders.append(path)
                files.extend(_walk(path))
            elif path.is_file():
                files.append(path)
            else:
                problems.append((str(raw), f"{raw} does not exist."))
        return files, folders, problems

    async def ingest(
        self,
        paths: Iterable[Path],
        *,
        on_file: Progress | None = None,
        total: Callable[[int], None] | None = None,
    ) -> IngestReport:
        files, folders, problems = self.plan(paths)
        report = IngestReport(failed=list(problems))
        if total is not None:
            total(len(files))
        known = await self._store.document_hashes([str(f) for f in files])
        seen: set[str] = set()
        incoming = sum(1 for f in files if str(f) not in known)
        async with self._writing(report, incoming) as run:
            for path in files:
                seen.add(str(path))
                try:
                    document = await asyncio.to_thread(
                        load_file, path, salt=self._chunker.signature
                    )
                    document.path = shown_path(path, folders)
                    document.url = document.url or mapped_url(self._source_url_base, document.path)
                    self._take(run, document, known.get(str(path)))
                except IngestError as exc:
                    report.failed.append((str(path), str(exc)))
                    log.warning("ingest_failed", path=str(path), error=str(exc))
                if on_file is not None:
                    on_file(str(path))
                # A store failure is no file's fault: it ends the ingest (raised to the caller).
                await self._flush_if_full(run)
        for folder in folders:
            report.removed += await self._store.remove_missing(str(folder) + "/", seen)
        await self._finish(report, embeddings_down=run.embeddings_down)
        return report

    # -- remote sources --------------------------------------------------------------------

    async def ingest_source(
        self,
        source: Source,
        *,
        on_file: Progress | None = None,
        total: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Bring the index in line with ``source``.

        A failed listing raises ``IngestError`` and changes nothing. An item that fails to
        download keeps its indexed version. Only after a complete listing are documents the
        source no longer holds removed.
        """
        items = await source.list()
        report = IngestReport(
            failed=list(source.failed), notes=list(getattr(source, "notes", ()))
        )
        if total is not None:
            total(len(items))
        known = await self._store.document_hashes([i.uri for i in items])
        seen: set[str] = set()
        incoming = sum(1 for i in items if i.uri not in known)
        async with self._writing(report, incoming) as run:
            for item in items:
                seen.add(item.uri)
                await self._take_item(run, source, item, known.get(item.uri))
                if on_file is not None:
                    on_file(item.uri)
                await self._flush_if_full(run)
        if source.scope is not None:
            report.removed += await self._store.remove_missing(
                source.scope, seen, source=source.kind
            )
        if source.gone:
            indexed = await self._store.document_hashes(source.gone)
            report.failed.extend(
                (uri, f"{uri} was not found (404), so there is nothing to index.")
                for uri in source.gone
                if uri not in indexed
            )
            report.removed += await self._store.remove(list(indexed))
        await self._finish(report, embeddings_down=run.embeddings_down)
        return report

    async def _take_item(
        self, run: _Run, source: Source, item: RemoteItem, known_hash: str | None
    ) -> None:
        report = run.report
        digest = None
        if item.version is not None:
            digest = content_hash(item.version.encode(), self._chunker.signature + item.uri)
            if digest == known_hash:
                report.unchanged += 1
                return
        try:
            document = await source.fetch(item, salt=self._chunker.signature)
            if digest is not None:
                document.content_hash = digest
            self._take(run, document, known_hash)
        except IngestError as exc:
            report.failed.append((item.url or item.uri, str(exc)))
            log.warning("ingest_failed", uri=item.uri, error=str(exc))

    # -- shared steps ----------------------------------------------------------------------

    @asynccontextmanager
    async def _writing(self, report: IngestReport, incoming: int) -> AsyncIterator[_Run]:
        """Buffer, embed and write documents; a large first load builds the HNSW index once
        at the end instead of row by row."""
        run = _Run(report)
        if self._embedder is not None and not self._space_ready:
            try:
                await self.prepare_embeddings()
            except ModelError as exc:
                # Chunks are still written (full text works); backfill embeds them later.
                run.fail_embeddings(exc)
        bulk = self._space_ready and await self._store.begin_bulk_load(incoming)
        try:
            yield run
            await self._flush(run)
            while run.batches:
                await run.batches.popleft()
        finally:
            # Leaving on an error: batches still embedding or writing stop (a write's
            # transaction rolls back) before the index returns.
            await _abandon(run.batches)
            if bulk:
                await self._store.end_bulk_load()

    async def _finish(self, report: IngestReport, *, embeddings_down: bool = False) -> None:
        if report.chunks or report.removed:
            await self._store.refresh_term_statistics(report.chunks + report.removed)
        if self._embedder is None or not self._space_ready or embeddings_down:
            return
        try:
            await self.backfill(report)
        except ModelError as exc:
            _Run(report).fail_embeddings(exc)

    def _take(self, run: _Run, document: LoadedDocument, known_hash: str | None) -> None:
        if known_hash == document.content_hash:
            run.report.unchanged += 1
            return
        chunks = self._chunker.split(document)
        if not chunks:
            raise IngestError(f"{document.title} has no text to index.", path=document.uri)
        run.buffer.append(_Pending(document, chunks, new=known_hash is None))

    async def _flush_if_full(self, run: _Run) -> None:
        if sum(len(p.chunks) for p in run.buffer) >= self._batch_chunks:
            await self._flush(run)

    async def _flush(self, run: _Run) -> None:
        batch, run.buffer = run.buffer, []
        if not batch:
            return
        before = run.batches[-1] if run.batches else None
        run.batches.append(asyncio.create_task(self._settle(run, batch, before)))
        # Reading goes on while at most ``lanes`` batches are embedding or writing.
        while len(run.batches) > self._lanes:
            await run.batches.popleft()

    async def _settle(
        self, run: _Run, batch: list[_Pending], before: asyncio.Task[None] | None
    ) -> None:
        """Embed ``batch`` (alongside other batches), then write it after ``before``."""
        if self._embed_batch is not None and self._space_ready and not run.embeddings_down:
            chunks = [c for p in batch for c in p.chunks]
            try:
                vectors = await self._embed_batch(
                    [embedding_input(p.document.title, c.section, c.text)
                     for p in batch for c in p.chunks]
                )
            except ModelError as exc:
                # Store the text anyway; backfill embeds it when the endpoint is back.
                run.fail_embeddings(exc)
            else:
                for chunk, vector in zip(chunks, vectors, strict=True):
                    chunk.embedding = vector
        if before is not None:
            await before  # writes go in reading order; none follows a failed one
        await self._store_batch(batch, run.report)

    async def _store_batch(self, batch: list[_Pending], report: IngestReport) -> None:
        await self._store.replace_documents([(p.document, p.chunks) for p in batch])
        for pending in batch:
            report.chunks += len(pending.chunks)
            if pending.new:
                report.added += 1
            else:
                report.updated += 1
            if self._embedder is not None and pending.chunks[0].embedding is not None:
                report.embedded += len(pending.chunks)


async def _abandon(tasks: deque[asyncio.Task[int]] | deque[asyncio.Task[None]]) -> None:
    """Cancel what is still running of ``tasks`` and wait until it has stopped."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    tasks.clear()
