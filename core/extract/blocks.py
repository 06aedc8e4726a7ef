"""A passage read as a person reads it: sentences of prose, lists with their lead-in line,
tables with their header row.

Chunk text comes from Markdown, HTML turned into Markdown-ish lines (lists as ``- ``, table
rows as ``a | b``) and PDF pages (lines wrapped mid-sentence). Each unit that can be quoted
alone is a ``Unit``; units of one list or table share a ``Block``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_ORDERED = re.compile(r"^\s*\d{1,2}[.)]\s+")
_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(*])")
_TERMINAL = re.compile(r"[.!?:;)\]\"'*]\s*$")
_HEADING = re.compile(r"^#{1,6}\s+")
# A line of a PDF page this long without closing punctuation was wrapped, not ended.
_WRAPPED = 60


@dataclass(slots=True)
class Block:
    """A list (its items) or a table (its rows, under ``header``), or one paragraph."""

    kind: Literal["prose", "list", "table"]
    lead: str | None = None  # the sentence just before a list or table
    announced: bool = False  # the lead ends on "including:" or points "below"
    header: tuple[str, ...] = ()
    ordered: bool = False
    units: list[Unit] = field(default_factory=list)
    heading: str | None = None  # a heading line above it inside the passage (merged sections)


@dataclass(slots=True)
class Unit:
    """One quotable piece: a sentence, a list item, or a table row (its cells)."""

    text: str
    block: Block
    index: int  # position in the passage, for keeping document order
    cells: tuple[str, ...] = ()

    @property
    def opens_more(self) -> bool:
        """Says that what follows belongs to it ("including:", "the rules below")."""
        low = self.text.lower().rstrip("* ")
        return low.endswith(":") or bool(re.search(r"\b(below|following)\b", low))


def _cells(line: str) -> tuple[str, ...]:
    body = line.strip()
    body = body.removeprefix("|")
    body = body.removesuffix("|")
    return tuple(cell.strip() for cell in body.split("|"))


def _is_row(line: str) -> bool:
    return line.count("|") >= 1 and not _ITEM.match(line) and len(_cells(line)) >= 2


def _unwrap(lines: list[str]) -> list[str]:
    """Join lines a PDF wrapped mid-sentence; keep list items, rows and short headings apart."""
    out: list[str] = []
    for line in lines:
        if (
            out
            and not _ITEM.match(line)
            and not _is_row(line)
            and not _is_row(out[-1])
            and len(out[-1]) >= _WRAPPED
            and not _TERMINAL.search(out[-1])
        ):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def sentences_of(paragraph: str) -> list[str]:
    """The sentences of one paragraph."""
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def read(text: str) -> list[Unit]:
    """Every quotable unit of ``text`` in order, each knowing its block.

    The first line of a chunk that starts in lower case began in the chunk before (overlap)
    and a last prose line without closing punctuation was cut by the chunk's end: both are
    fragments, never quoted.
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = _unwrap([line for line in lines if line])
    units: list[Unit] = []
    block: Block | None = None
    previous_prose: Unit | None = None
    heading: str | None = None

    def add(unit_text: str, owner: Block, cells: tuple[str, ...] = ()) -> None:
        owner.heading = heading
        unit = Unit(text=unit_text, block=owner, index=len(units), cells=cells)
        owner.units.append(unit)
        units.append(unit)

    for n, line in enumerate(lines):
        if _SEPARATOR.match(line):
            continue
        if _HEADING.match(line):
            # A section's name inside the passage: what follows is read under it, not quoted.
            heading = _HEADING.sub("", line).strip() or heading
            block, previous_prose = None, None
            continue
        if _ITEM.match(line):
            ordered = bool(_ORDERED.match(line))
            # Numbered steps and bullets side by side are two lists (often two sections).
            if block is None or block.kind != "list" or block.ordered != ordered:
                block = Block(
                    "list", lead=previous_prose.text if previous_prose else None,
                    announced=bool(previous_prose and previous_prose.opens_more), ordered=ordered,
                )
            previous_prose = None
            add(_ITEM.sub("", line, count=1), block)
            continue
        if _is_row(line):
            cells = _cells(line)
            lead_in, previous_prose = previous_prose, None
            if block is None or block.kind != "table":
                lead = lead_in.text if lead_in else None
                announced = bool(lead_in and lead_in.opens_more)
                following = lines[n + 1] if n + 1 < len(lines) else ""
                markdown = line.strip().startswith("|")
                # A Markdown table's header is the row above its |---| line; a table without
                # one began in an earlier chunk. HTML tables start with their header row.
                if markdown and not _SEPARATOR.match(following):
                    block = Block("table", lead=lead, announced=announced)
                else:
                    block = Block("table", lead=lead, announced=announced, header=cells)
                    continue
            add(" | ".join(cells), block, cells)
            continue
        block = None
        paragraph = Block("prose")
        parts = sentences_of(line)
        for sentence in parts:
            add(sentence, paragraph)
        previous_prose = paragraph.units[-1] if paragraph.units else previous_prose
    _drop_fragments(units)
    return units


def _drop_fragments(units: list[Unit]) -> None:
    if units and units[0].block.kind == "prose" and units[0].text[:1].islower():
        units[0].text = ""
    if units and units[-1].block.kind == "prose" and not _TERMINAL.search(units[-1].text):
        units[-1].text = ""
