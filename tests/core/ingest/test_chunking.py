"""Chunks as a reader needs them: pages that say where the text is, tables that keep their
header, PDF rows that keep their figures."""

from __future__ import annotations

from pathlib import Path

from core.ingest.chunking import Chunker
from core.ingest.documents import LoadedDocument, Section
from core.ingest.loaders import PdfText, pdf_document
from core.ingest.pdftext import clean_pages


def pdf(*pages: str) -> LoadedDocument:
    return LoadedDocument(
        uri="benefits.pdf", title="Benefits guide", domain="hr", kind="pdf", content_hash="h",
        sections=[Section(text=t, page=n) for n, t in enumerate(pages, start=1)],
    )


def test_a_chunk_crossing_a_page_break_records_both_pages_and_shows_the_fuller_one():
    short_end = "Dental cover starts after three months of service."
    next_page = ("Claims are paid within ten working days of the receipt being uploaded. " * 4)
    document = pdf("Intro. " * 60 + "\n\n" + short_end, next_page + "\n\n" + "Vision. " * 60)

    chunks = Chunker(chunk_size=400, chunk_overlap=0).split(document)

    crossing = next(c for c in chunks if short_end in c.text)
    assert "Claims are paid" in crossing.text, "the page break did not end the chunk"
    assert (crossing.page_start, crossing.page_end) == (1, 2)
    assert crossing.page == 2, "most of the chunk's text is on page 2"
    within = [c for c in chunks if c.page_start == c.page_end]
    assert all(c.page == c.page_start for c in within)


def test_a_chunk_that_starts_inside_a_table_repeats_the_tables_header():
    rows = "\n".join(f"| Office {i} | {20 + i} days |" for i in range(40))
    document = LoadedDocument(
        uri="leave.md", title="Leave", domain="hr", kind="markdown", content_hash="h",
        sections=[Section(text=f"# Leave\n\n## Allowance by office\n\n| Office | Days |\n"
                               f"|---|---|\n{rows}\n")],
    )

    chunks = Chunker(chunk_size=300, chunk_overlap=0).split(document)

    assert len(chunks) > 2
    assert all(c.text.startswith("| Office | Days |\n|---|---|") for c in chunks), [
        c.text[:40] for c in chunks]
    later = next(c for c in chunks if "| Office 30 |" in c.text)
    assert "| Office 30 | 50 days |" in later.text and later.section == "Allowance by office"


def test_pdf_table_cells_come_back_to_their_row_and_running_headers_go():
    page = ("Acme Corp Annual Report\nNote {n}: cash flows\n(Millions)\n2018\n2017\n"
            "Net income\n$\n5,36{n}\n$\n4,869\nPurchases of property\n(1,57{n})\n(1,373)\n"
            "Page {n}")
    pages = [page.format(n=n) for n in range(1, 5)]

    cleaned = clean_pages(pages)

    lines = cleaned[0].splitlines()
    assert "Net income $ 5,361 $ 4,869" in lines
    assert "Purchases of property (1,571) (1,373)" in lines
    assert "(Millions) 2018 2017" in lines
    assert "Acme Corp Annual Report" not in lines, "a line atop every page is furniture"


def test_a_pdf_page_holding_nul_characters_can_be_stored():
    cleaned = clean_pages(["Total\x00 revenue 12,000", "Notes"])
    assert "\x00" not in cleaned[0] and "revenue" in cleaned[0]


def test_a_pdf_pages_first_line_is_its_section_only_when_it_reads_like_a_title():
    text = PdfText(
        pages=["Dental Plan Summary\nCleanings are covered twice a year.",
               "and the rest of the sentence from the page before.\nFillings cost 20 euros."],
        info={},
    )
    document = pdf_document(text, b"pdf", Path("plan.pdf"), "")

    assert [s.heading for s in document.sections] == ["Dental Plan Summary", None]
    assert [s.page for s in document.sections] == [1, 2]
