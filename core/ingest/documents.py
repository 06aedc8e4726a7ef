"""What ingestion reads and what it writes, before any storage is involved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text under one heading, or one page of a PDF."""

    text: str
    heading: str | None = None
    page: int | None = None


@dataclass(slots=True)
class LoadedDocument:
    """A parsed document: where it lives, what it is about, and its text in sections."""

    uri: str
    title: str
    domain: str
    kind: str
    content_hash: str
    sections: list[Section]
    source: str = "folder"
    url: str | None = None
    path: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChunkDraft:
    """One chunk ready to store; ``embedding`` stays empty until an embedder fills it."""

    ord: int
    text: str
    section: str | None = None
    page_start: int | None = None
    page_end: int | None = None
    # The page holding most of the chunk's text, shown as its place (PDFs only).
    page: int | None = None
    embedding: list[float] | None = None
