"""Figures in an answer — numbers, amounts, dates, codes — and whether the passages hold them.

A figure the model writes that appears in none of the passages it was given is the cheapest
invention to catch: "$2,000" against "$65" on the page. The comparison is deliberately plain
(no arithmetic, no units): a figure is supported when its digits, or a code's characters,
appear in a passage or in the question. Computed answers (a ratio, a sum) are therefore
flagged too; that is why the default only flags them and removal is a setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A code mixes letters and digits: "HR-204", "W-2", "401k", "ISO27001", "Q3".
_CODE = re.compile(r"\b(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\b")
# A number, with its thousands separators, decimals, and the separators of dates and times.
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[,.:/-]\d+)*")
_MARKER = re.compile(r"\[\d{1,3}\]")
_LIST_ITEM = re.compile(r"^\s*\d{1,2}[.)]\s", re.MULTILINE)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
]


def _normal(number: str) -> str:
    return _THOUSANDS.sub("", number).rstrip(".,:/-")


def figures(text: str) -> list[str]:
    """The figures in ``text`` as written, in order, without citation markers or list numbers."""
    text = _LIST_ITEM.sub(" ", _MARKER.sub(" ", text))
    found = [m.group(0) for m in _CODE.finditer(text)]
    rest = _CODE.sub(" ", text)
    found += [m.group(0) for m in _NUMBER.finditer(rest)]
    return found


def figure_text(text: str) -> tuple[str, str]:
    """``text`` as a ``FigureSource`` looks in it: without thousands separators, and in lower
    case. Texts joined at line breaks read as the joined text would (a separator is found
    between digits only)."""
    return _THOUSANDS.sub("", text), text.lower()


class FigureSource:
    """What the passages (and the question) say, prepared once for many look-ups: ``texts``,
    and ``read``, texts already read by ``figure_text`` (e.g. remembered: ``core/memo.py``)."""

    def __init__(self, texts: Iterable[str], read: Iterable[tuple[str, str]] = ()) -> None:
        parts = [*map(figure_text, texts), *read]
        self._digits = "\n".join(digits for digits, _ in parts)
        self._lower = "\n".join(lower for _, lower in parts)

    def supports(self, figure: str) -> bool:
        if _CODE.fullmatch(figure):
            return re.search(rf"(?<![\w-]){re.escape(figure.lower())}(?![\w-])", self._lower) is not None
        number = _normal(figure)
        if not number:
            return True
        if re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d]|[.,]\d)", self._digits):
            return True
        # "two weeks" in the passage supports "2 weeks" in the answer.
        if number.isdigit() and int(number) < len(_WORDS):
            return re.search(rf"\b{_WORDS[int(number)]}\b", self._lower) is not None
        return False

    def unsupported(self, text: str) -> list[str]:
        """The figures of ``text`` that appear nowhere in the source, each once, in order."""
        seen: list[str] = []
        for figure in figures(text):
            if figure not in seen and not self.supports(figure):
                seen.append(figure)
        return seen
