"""How well a unit of a passage answers the question: the question's words it holds, each
weighted by how rare it is among the passages retrieved for this question."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.extract.blocks import Unit
from core.text import match_terms

_PROCEDURE = re.compile(
    r"^\s*(how (do|can|should|to)|how's|what (do|should) i do|steps?\b|where do i)|"
    r"\b(set ?up|reset|install|connect|submit|book|report|request|claim|apply|register)\b",
    re.IGNORECASE,
)
_QUANTITY = re.compile(
    r"\b(how (many|much|long|often|far|soon)|when|what time|rate|limit|cap|cost|percent|"
    r"number|deadline|amount|per (day|night|mile|km))\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
# The kind of figure a quantity question asks for, and how that kind is written: "what
# time" wants a clock time, "how long" a duration, "how much" an amount. A unit holding
# a figure of the asked kind answers before one holding any number ("4 times salary").
_UNITS = r"(minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)"
_KINDS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (re.compile(r"\bwhat time\b|\bwhen\b.*\b(start|open|close|arrive|finish|begin)", re.IGNORECASE),
     re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?(am|pm)\b", re.IGNORECASE)),
    (re.compile(r"\bhow (long|soon)\b|\bhow far in advance\b|\bwithin\b", re.IGNORECASE),
     re.compile(rf"\b(\d+|one|two|three|four|five|six|ten)\s+(working\s+|calendar\s+)?{_UNITS}\b", re.IGNORECASE)),
    (re.compile(r"\bhow much\b|\b(rate|cost|cap|amount|allowance|price|fee)\b", re.IGNORECASE),
     re.compile(r"[£$€]\s?\d|\b\d[\d,.]*\s?(%|percent|gbp|eur|usd|cad|p)\b", re.IGNORECASE)),
    (re.compile(r"\bwhen\b|\bwhat date\b|\bdeadline\b|\bwhich day\b", re.IGNORECASE),
     re.compile(r"\b\d{1,2}(st|nd|rd|th)\b|\b(january|february|march|april|may|june|july|"
                r"august|september|october|november|december|monday|tuesday|wednesday|"
                r"thursday|friday)\b", re.IGNORECASE)),
)


def words(text: str) -> set[str]:
    """Content words of ``text``; codes stay whole ("MFA-112", "Wi-Fi")."""
    return set(match_terms(text))


@dataclass(frozen=True, slots=True)
class Question:
    """The question as the scorer sees it: its words, and what kind of answer it wants."""

    words: frozenset[str]
    procedure: bool
    quantity: bool
    kinds: tuple[re.Pattern[str], ...] = ()  # how the figures it asks for are written

    @classmethod
    def of(cls, text: str) -> Question:
        return cls(
            words=frozenset(words(text)),
            procedure=bool(_PROCEDURE.search(text)),
            quantity=bool(_QUANTITY.search(text)),
            kinds=tuple(figure for asks, figure in _KINDS if asks.search(text)),
        )


class Weights:
    """Inverse document frequency of each question word over ``texts`` (the retrieved
    passages' units): a word every passage has ("leave", asked about leave) tells little."""

    def __init__(self, question: Question, texts: Iterable[str]) -> None:
        bags = [words(t) for t in texts]
        df = Counter(w for bag in bags for w in bag if w in question.words)
        n = max(1, len(bags))
        self._idf = {w: math.log(1 + n / (df[w] + 0.5)) for w in question.words}

    def of(self, found: Iterable[str]) -> float:
        return sum(self._idf.get(w, 0.0) for w in found)

    @property
    def total(self) -> float:
        return sum(self._idf.values())


# What a word found beside a unit counts, against one in the unit itself: in the heading
# the unit sits under ("Partner leave (UK)" over "Partners … receive 6 weeks"), a heading
# names what the unit is about; elsewhere around it (the document's title, the lead-in,
# the table's header) it only places it.
HEADING = 0.8
AROUND = 0.5


def score(unit: Unit, question: Question, weights: Weights, context: set[str],
          heading: set[str] | frozenset[str] = frozenset()) -> float:
    """The weight of the question's words found in ``unit``; words found only in its
    ``heading`` count ``HEADING``, only in the rest of its ``context`` (the passage's title,
    the list's lead-in, the table's header) ``AROUND``. A number in the unit matters when
    the question asks for a quantity."""
    if not unit.text:
        return 0.0
    own = words(unit.text) & question.words
    near = (heading - own) & question.words
    around = (context - own - near) & question.words
    value = weights.of(own) + HEADING * weights.of(near) + AROUND * weights.of(around)
    if not own:
        return 0.25 * value  # a unit that shares nothing with the question only borrows
    if question.quantity and _DIGIT.search(unit.text):
        value *= 1.25
        if any(kind.search(unit.text) for kind in question.kinds):
            value *= 1.25
    if question.procedure and unit.block.kind == "list":
        value *= 1.15
    if unit.cells and _key_asked(unit, question):
        value *= 1.3  # the row's key is what was asked about ("London", "P1", "GP-HIP-01")
    return value


def _key_asked(row: Unit, question: Question) -> bool:
    """The row's first cell holds a question word no other row's first cell has: "812" in
    "Error 812" tells the row apart, "Error" does not."""
    asked = words(row.cells[0]) & question.words
    others = set().union(*(words(u.cells[0]) for u in row.block.units if u is not row and u.cells))
    return bool(asked - others)


def block_score(units: Sequence[Unit], question: Question, weights: Weights, context: set[str]) -> float:
    """A list read as one answer (a procedure): the question's words its items hold
    together; those only in its context (the heading names the procedure: "Reporting
    sickness") count nearly as much."""
    own = set().union(*(words(u.text) for u in units if u.text)) & question.words
    around = (context - own) & question.words
    return weights.of(own) + 0.8 * weights.of(around)


def context_words(unit: Unit, passage_context: str) -> set[str]:
    """What a unit is read with: its passage's title and section, and its block's lead-in
    and header."""
    block = unit.block
    parts: Sequence[str] = (passage_context, block.lead or "", " ".join(block.header))
    return words(" ".join(parts))
