"""A PDF's extracted pages made readable: table cells back on their row, running headers and
footers dropped.

pypdf writes each table cell of a filing or a benefits grid on a line of its own ("Net income",
"$", "5,363", "$", "4,869"), so a row's label and its figures land in different places of a
chunk and a row cannot be quoted. A line that holds only figures belongs to the line above it.
Lines repeated at the top or bottom of most pages (a company name, "Table of Contents") are
page furniture, not content: kept, they make every page look alike to both rankings.
"""

from __future__ import annotations

import re
from collections import Counter

# Only figures: amounts, percentages, dates as numbers, currency signs, brackets, dashes.
_FIGURES = re.compile(r"^[\s$€£¥%().,:/+\-–—*\d]*\d[\s$€£¥%().,:/+\-–—*\d]*$|^[\s$€£¥—–-]+$")
_LETTERS = re.compile(r"[^\W\d_]{2}")
_EDGE = 2  # lines at each end of a page that may be a running header or footer


def _rows(text: str) -> list[str]:
    rows: list[str] = []
    # Some PDFs' text carries NUL characters, which Postgres text cannot hold.
    for raw in text.replace("\x00", "").splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if rows and _FIGURES.match(line):
            rows[-1] = f"{rows[-1]} {line}"
        else:
            rows.append(line)
    return rows


def _furniture(pages: list[list[str]]) -> set[str]:
    """Lines found at a page's top or bottom on at least half the pages (and three of them)."""
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({line for line in (*lines[:_EDGE], *lines[-_EDGE:]) if _LETTERS.search(line)})
    least = max(3, len(pages) // 2)
    return {line for line, n in counts.items() if n >= least}


def clean_pages(pages: list[str]) -> list[str]:
    """Each page's text with table rows joined and running headers and footers removed."""
    rows = [_rows(page) for page in pages]
    furniture = _furniture(rows)
    cleaned = []
    for lines in rows:
        edge = set(range(min(_EDGE, len(lines)))) | set(range(max(0, len(lines) - _EDGE), len(lines)))
        cleaned.append("\n".join(
            line for i, line in enumerate(lines) if not (i in edge and line in furniture)
        ))
    return cleaned
