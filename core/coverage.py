"""Whether the documents cover a question: the decision to say "I couldn't find that".

The signal is absolute, so one threshold holds across document sets of any size: the share
of the question's content words, each weighted by its inverse document frequency in the
whole index, that the retrieved passages hold (titles and sections included). A question
about "dental cover in Brazil" whose passages speak of dental cover but never of Brazil
holds the common words and misses the rare one, and the rare one weighs most. The passages
are read together: a question about two things may find them in two passages.
Retrieval scores (reciprocal-rank fusion) only order passages; they cannot say "none of
these is about it".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.answers import Passage


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a question its passages speak to, 0 to 1."""

    share: float

    @classmethod
    def none(cls) -> Coverage:
        return cls(share=0.0)

    @classmethod
    def carried(cls, content: str, passages: Sequence[Passage]) -> Coverage | None:
        """Coverage from what retrieval measured of ``content`` in each passage, or None when
        a passage carries no measure of it (then the judge asks the database)."""
        marks = [p.matched for p in passages]
        if not marks:
            return None
        found: set[str] = set()
        for mark in marks:
            if mark is None or mark.content != content:
                return None
            found |= mark.found
        first = marks[0]
        assert first is not None
        return cls(share=first.share(found))


class CoverageJudge(Protocol):
    """Measures ``Coverage`` of a question by its retrieved passages."""

    async def measure(self, question: str, passages: Sequence[Passage]) -> Coverage: ...


@dataclass(frozen=True, slots=True)
class DeclinePolicy:
    """Declines when the passages hold less than ``min_share`` of the question.

    The first ``top`` passages are measured. ``min_share`` 0 never declines
    a question that retrieved anything. With ``by_meaning`` (retrieval ranks by embeddings
    too), a question in another language than the documents' is not measured: its words
    cannot be found in English passages that its meaning may well have found.
    """

    min_share: float = 0.65
    top: int = 5
    by_meaning: bool = False

    def covered(self, coverage: Coverage) -> bool:
        return coverage.share >= self.min_share
