"""Heading-aware chunking with overlap, using langchain's text splitters."""

from __future__ import annotations

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from core.ingest.documents import ChunkDraft, LoadedDocument

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]


class Chunker:
    """Splits a document at its headings, then long sections by size with overlap.

    Markdown and HTML keep their heading path as the chunk's section ("Leave › Carry-over");
    PDF chunks keep their page number.
    """

    def __init__(self, *, chunk_size: int = 800, chunk_overlap: int = 100) -> None:
        self.signature = f"chunker-v1:{chunk_size}:{chunk_overlap}"
        self._headings = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True)
        self._sizes = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        )

    def split(self, document: LoadedDocument) -> list[ChunkDraft]:
        chunks: list[ChunkDraft] = []
        for section in document.sections:
            if section.page is not None or document.kind in {"text", "pdf"}:
                pieces = [(section.heading, t) for t in self._sizes.split_text(section.text)]
            else:
                pieces = []
                for part in self._headings.split_text(section.text):
                    path = [part.metadata[key] for _, key in _HEADERS if key in part.metadata]
                    # The top heading is the title; the section names what is below it.
                    heading = " › ".join(path[1:] if len(path) > 1 else path) or None
                    pieces.extend((heading, t) for t in self._sizes.split_text(part.page_content))
            for heading, text in pieces:
                text = text.strip()
                if len(text) < 2:
                    continue
                chunks.append(
                    ChunkDraft(
                        ord=len(chunks),
                        text=text,
                        section=heading,
                        page_start=section.page,
                        page_end=section.page,
                    )
                )
        return chunks
