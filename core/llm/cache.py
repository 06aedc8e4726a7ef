"""The answer cache: the same question, asked again within a domain, is answered from memory.

"The same" means equal after normalization (case, spacing and punctuation do not count). A
re-ingest changes what the right answer is, so it calls ``invalidate()``; the Redis version
(``store.answer_cache``) shares entries and invalidation across replicas, the in-process one
here serves a single process.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol, Self

from core.answers import Citation, Passage

_WORDS = re.compile(r"\w+", re.UNICODE)


def normalize_question(text: str) -> str:
    """Lower-cased words separated by single spaces: "How do I reset my password?" and
    "how do i reset my  password" are the same question."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORDS.findall(folded))


def question_key(domain: str, question: str) -> str:
    digest = hashlib.sha256(f"{domain}\n{normalize_question(question)}".encode()).hexdigest()
    return digest[:40]


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """What is needed to show an answer again: its text, citations and sources."""

    text: str
    citations: tuple[Citation, ...] = ()
    sources: tuple[Passage, ...] = ()
    model: str | None = None
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(
            {
                "text": self.text,
                "citations": [asdict(c) for c in self.citations],
                "sources": [_stored(p) for p in self.sources],
                "model": self.model,
                "created_at": self.created_at,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Self:
        data = json.loads(raw)
        return cls(
            text=data["text"],
            citations=tuple(Citation(**c) for c in data.get("citations", ())),
            sources=tuple(Passage(**p) for p in data.get("sources", ())),
            model=data.get("model"),
            created_at=float(data.get("created_at", 0.0)),
        )


class AnswerCache(Protocol):
    """Answers by (domain, normalized question). Failures read as misses, never as errors."""

    async def get(self, domain: str, question: str) -> CachedAnswer | None: ...

    async def put(self, domain: str, question: str, answer: CachedAnswer) -> None: ...

    async def invalidate(self) -> None:
        """Forget every answer: the documents changed."""
        ...


class MemoryAnswerCache:
    """In-process cache with a time to live and a size bound (least recently used goes first)."""

    def __init__(
        self, *, ttl: float, max_entries: int = 2000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, CachedAnswer]] = OrderedDict()

    async def get(self, domain: str, question: str) -> CachedAnswer | None:
        key = question_key(domain, question)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, answer = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return answer

    async def put(self, domain: str, question: str, answer: CachedAnswer) -> None:
        if self._ttl <= 0:
            return
        key = question_key(domain, question)
        self._entries[key] = (self._clock() + self._ttl, answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def invalidate(self) -> None:
        self._entries.clear()


def _stored(passage: Passage) -> dict[str, Any]:
    """A source as the cache keeps it: what it shows, not what its retrieval measured."""
    return {f.name: getattr(passage, f.name) for f in fields(passage) if f.name != "matched"}
