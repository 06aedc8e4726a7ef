"""Ingest files and folders: skip what is unchanged, replace what changed, drop what vanished."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from core.errors import IngestError
from core.ingest.chunking import Chunker
from core.ingest.documents import ChunkDraft, LoadedDocument
from core.ingest.loaders import is_supported, load_file

log = structlog.get_logger(__name__)

Progress = Callable[[str], None]


class KnowledgeStore(Protocol):
    """Where documents and their chunks are kept."""

    async def document_hashes(self, uris: Sequence[str]) -> dict[str, str]: ...

    async def replace_document(self, document: LoadedDocument, chunks: Sequence[ChunkDraft]) -> int:
        """Store ``document`` with exactly ``chunks``, replacing any earlier version atomically."""
        ...

    async def remove_missing(self, prefix: str, keep: set[str]) -> int:
        """Delete documents whose uri starts with ``prefix`` and is not in ``keep``."""
        ...


class Embedder(Protocol):
    """Turns texts into vectors, in batches."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass(slots=True)
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.failed)} failed; {self.chunks} chunks written"
        )
        return text


def _walk(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and is_supported(p)
        and p.name.lower() != "readme.md"
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


class Ingestor:
    """Reads paths into a KnowledgeStore.

    A document's content hash (salted with the chunker's settings) decides whether it is
    re-chunked; a folder ingest also removes documents under it that no longer exist.
    """

    def __init__(
        self,
        store: KnowledgeStore,
        *,
        chunker: Chunker,
        embedder: Embedder | None = None,
    ) -> None:
        self._store = store
        self._chunker = chunker
        self._embedder = embedder

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
        self, paths: Iterable[Path], *, on_file: Progress | None = None, total: Callable[[int], None] | None = None
    ) -> IngestReport:
        files, folders, problems = self.plan(paths)
        report = IngestReport(failed=list(problems))
        if total is not None:
            total(len(files))
        known = await self._store.document_hashes([str(f) for f in files])
        seen: set[str] = set()
        for path in files:
            seen.add(str(path))
            try:
                await self._ingest_one(path, known.get(str(path)), report)
            except IngestError as exc:
                report.failed.append((str(path), str(exc)))
                log.warning("ingest_failed", path=str(path), error=str(exc))
            if on_file is not None:
                on_file(str(path))
        for folder in folders:
            report.removed += await self._store.remove_missing(str(folder) + "/", seen)
        return report

    async def _ingest_one(self, path: Path, known_hash: str | None, report: IngestReport) -> None:
        document = await asyncio.to_thread(load_file, path, salt=self._chunker.signature)
        if known_hash == document.content_hash:
            report.unchanged += 1
            return
        chunks = self._chunker.split(document)
        if not chunks:
            raise IngestError(f"{path.name} has no text to index.", path=str(path))
        if self._embedder is not None:
            vectors = await self._embedder.embed([c.text for c in chunks])
            for chunk, vector in zip(chunks, vectors, strict=True):
                chunk.embedding = vector
        await self._store.replace_document(document, chunks)
        report.chunks += len(chunks)
        if known_hash is None:
            report.added += 1
        else:
            report.updated += 1
