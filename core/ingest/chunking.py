"""Heading-aware chunking with overlap, using langchain's text splitters."""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from core.ingest.documents import ChunkDraft, LoadedDocument

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
# A table row: a pipe-table line, or a line that ends in a figure (a PDF table's row once its
# cells are joined, core/ingest/pdftext.py).
_ROW = re.compile(r"^\s*\|.*\||\S.*[\d%)]\s*$")
_SEPARATOR = re.compile(r"^\s*\|?[\s:|-]*-{3}[\s:|-]*$")
_PAGE_BREAK = "\n\n"
_MAX_HEADER = 240


@dataclass(frozen=True, slots=True)
class _Span:
    """Where a page's text lies in the document's text."""

    start: int
    end: int
    page: int
    heading: str | None


def _header_before(text: str, start: int) -> str | None:
    """The header of the table a chunk starting at ``start`` begins inside, if it does.

    A chunk whose first line and the line before it are both rows starts mid-table: its header
    is the first row of that run of rows with the line above it (the table's caption or column
    names), so that the rows it holds can still be read ("2018 2017 2016" above the figures).
    """
    before = text[:start].rstrip("\n").split("\n")
    first = text[start:].split("\n", 1)[0]
    if not before or not _ROW.match(first) or not _ROW.match(before[-1]):
        return None
    i = len(before) - 1
    while i > 0 and _ROW.match(before[i - 1]):
        i -= 1
    header = [before[i - 1]] if i > 0 and before[i - 1].strip() else []
    header.append(before[i])
    if i + 1 < len(before) and _SEPARATOR.match(before[i + 1]):
        header.append(before[i + 1])  # a Markdown table's |---|---| line, for it to render
    joined = "\n".join(h for h in header if h.strip())
    return joined if joined and len(joined) <= _MAX_HEADER else None


class Chunker:
    """Splits a document at its headings, then long sections by size with overlap.

    Markdown and HTML keep their heading path as the chunk's section ("Leave › Carry-over").
    A PDF is split as one text, so a chunk may run across a page break: it records the first
    and last page it covers and, as its ``page``, the one holding most of its text. A chunk
    that starts inside a table repeats the table's header above its rows.
    """

    def __init__(self, *, chunk_size: int = 1400, chunk_overlap: int = 300) -> None:
        self.signature = f"chunker-v2:{chunk_size}:{chunk_overlap}"
        self._headings = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True)
        self._sizes = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
            add_start_index=True,
        )

    def _pieces(self, text: str) -> list[tuple[int, int, str]]:
        """``text`` cut by size: each piece's span in ``text`` and its text, with the header
        of a table it starts inside put back."""
        pieces = []
        for part in self._sizes.create_documents([text]):
            start = int(part.metadata["start_index"])
            body = part.page_content
            header = _header_before(text, start) if start >= 0 else None
            pieces.append((start, start + len(body), f"{header}\n{body}" if header else body))
        return pieces

    def split(self, document: LoadedDocument) -> list[ChunkDraft]:
        if any(s.page is not None for s in document.sections):
            return self._split_pages(document)
        chunks: list[ChunkDraft] = []
        for section in document.sections:
            if document.kind == "text":
                pieces = [(section.heading, t) for _, _, t in self._pieces(section.text)]
            else:
                pieces = []
                for part in self._headings.split_text(section.text):
                    path = [part.metadata[key] for _, key in _HEADERS if key in part.metadata]
                    # The top heading is the title; the section names what is below it.
                    heading = " › ".join(path[1:] if len(path) > 1 else path) or None
                    pieces.extend((heading, t) for _, _, t in self._pieces(part.page_content))
            for heading, text in pieces:
                text = text.strip()
                if len(text) >= 2:
                    chunks.append(ChunkDraft(ord=len(chunks), text=text, section=heading))
        return chunks

    def _split_pages(self, document: LoadedDocument) -> list[ChunkDraft]:
        spans: list[_Span] = []
        parts: list[str] = []
        at = 0
        for section in document.sections:
            if parts:
                parts.append(_PAGE_BREAK)
                at += len(_PAGE_BREAK)
            parts.append(section.text)
            spans.append(_Span(at, at + len(section.text), section.page or 0, section.heading))
            at += len(section.text)
        text = "".join(parts)
        chunks: list[ChunkDraft] = []
        for start, end, piece in self._pieces(text):
            shares = [(min(end, s.end) - max(start, s.start), s) for s in spans
                      if min(end, s.end) > max(start, s.start)]
            if not shares or len(piece.strip()) < 2:
                continue
            main = max(shares, key=lambda pair: pair[0])[1]
            chunks.append(ChunkDraft(
                ord=len(chunks), text=piece.strip(), section=main.heading,
                page_start=shares[0][1].page, page_end=shares[-1][1].page, page=main.page,
            ))
        return chunks
