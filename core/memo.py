"""A bounded memory of what was worked out from a text, for work that repeats across answers.

The same passages come back question after question: counting their tokens, or reading their
words and figures for the grounding check, is a pass over each one. Looking a text up is a
hash of it (computed once per string) and a comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """``make(text)`` for the last ``size`` texts it was asked about; the oldest is forgotten
    first. Texts shorter than ``min_chars`` are worked out each time, never kept. Keep only
    texts that come back (passages), never a person's question. The product's memos of a
    passage hold about 12 KB a 900-character passage in all (tallies, the grounding check's
    readings, the citations' sentences, the keys), so about 12 MB at 1,024 texts; the
    retriever's memory of its candidates' word trigrams about 10-14 KB a chunk of 1,000-1,200
    characters, so 10-15 MB more."""

    def __init__(self, make: Callable[[str], V], *, size: int = 1024, min_chars: int = 256) -> None:
        self._make = make
        self._size = size
        self._min_chars = min_chars
        self._values: dict[str, V] = {}

    def __call__(self, text: str) -> V:
        if len(text) < self._min_chars or not self._size:
            return self._make(text)
        value = self._values.get(text)
        if value is None:
            value = self._values[text] = self._make(text)
            if len(self._values) > self._size:
                del self._values[next(iter(self._values))]
        return value

    def __len__(self) -> int:
        return len(self._values)
