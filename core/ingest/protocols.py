"""What ingestion talks to: the knowledge store it writes, the embedders it calls, what is
embedded for a chunk, and the report it gives back. The orchestration is in
``core/ingest/pipeline.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from core.ingest.documents import ChunkDraft, LoadedDocument


class PendingChunk(Protocol):
    id: int
    title: str
    section: str | None
    text: str


class KnowledgeStore(Protocol):
    """Where documents and their chunks are kept."""

    async def document_hashes(self, uris: Sequence[str]) -> dict[str, str]: ...

    async def replace_documents(
        self, batch: Sequence[tuple[LoadedDocument, Sequence[ChunkDraft]]]
    ) -> list[int]:
        """Store each document with exactly its chunks, replacing earlier versions atomically."""
        ...

    async def remove_missing(self, prefix: str, keep: set[str], *, source: str = "folder") -> int:
        """Delete ``source`` documents whose uri starts with ``prefix`` and is not in ``keep``."""
        ...

    async def remove(self, uris: Sequence[str]) -> int: ...

    async def use_embedding_space(self, model: str, dimensions: int) -> bool:
        """Make ``model`` the index's vector space; True when it changed (vectors dropped)."""
        ...

    async def pending_embeddings(
        self, *, after: int = 0, limit: int = 256
    ) -> Sequence[PendingChunk]: ...

    async def write_embeddings(
        self, ids: Sequence[int], vectors: Sequence[Sequence[float]]
    ) -> int: ...

    async def refresh_term_statistics(self, changed: int) -> bool:
        """Recount what full-text ranking weighs words by, if ``changed`` chunks matter."""
        ...

    async def begin_bulk_load(self, incoming: int) -> bool:
        """Drop the vector index if ``incoming`` new documents make rebuilding it cheaper."""
        ...

    async def end_bulk_load(self) -> None: ...


class Embedder(Protocol):
    """Turns texts into vectors, in batches. ``model`` names the vector space; ``dimensions``
    is its size when known in advance (else the first vector tells)."""

    model: str
    dimensions: int | None

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@runtime_checkable
class EmbedsAhead(Protocol):
    """An embedder that can start a question's vector before it is asked for, so the asking
    waits only for what is left of the request (``core.embeddings.OpenAIEmbedder``)."""

    def ahead(self, text: str) -> None: ...


@runtime_checkable
class BulkEmbedder(Protocol):
    """An embedder that can keep ``concurrency`` requests in flight and wait out rate limits
    (``core.embeddings.OpenAIEmbedder``); ingestion then overlaps that many batches."""

    model: str
    dimensions: int | None
    concurrency: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_many(self, texts: Sequence[str]) -> list[list[float]]: ...


def embedding_input(title: str, section: str | None, text: str) -> str:
    """What is embedded for a chunk: its text under its document title and section, so a
    chunk that never names its subject ("Click Add Test Case…") still lands near it."""
    heading = f"{title} › {section}" if section and section != title else title
    return f"{heading}\n\n{text}"


@dataclass(slots=True)
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    embedded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    # What a source could not fully say but did not fail on (e.g. SharePoint site groups
    # whose members it could not list); shown with the report.
    notes: list[str] = field(default_factory=list)

    def merge(self, other: IngestReport) -> None:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.removed += other.removed
        self.chunks += other.chunks
        self.embedded += other.embedded
        self.failed.extend(other.failed)
        self.notes.extend(other.notes)

    def summary(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.failed)} failed; {self.chunks} chunks written"
        )
        if self.embedded:
            text += f", {self.embedded} embedded"
        return text

