"""Verified answers: written once by an admin, served as written to every question that means
the same, before routing, retrieval or the model.

``VerifiedAnswers`` keeps the live answers in memory (there are hundreds at most) and reloads
them when they change: at once on this replica, and on the others at the next question after
``recheck_s`` seconds, when one small query shows a newer ``updated_at`` or another count. The
near-miss veto and the words-and-trigrams score run in memory; question vectors stay in
Postgres, where pgvector compares them in one query.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

import structlog

from core.answers import RouteDecision
from core.errors import ModelError
from core.identity.principals import Scope
from core.routing import Router
from core.verified.matching import QuestionShape, shape, text_similarity, veto

log = structlog.get_logger(__name__)

# Chosen on bench/data/verified-pairs.jsonl (docs/benchmarks.md, "Verified answers"): the
# lowest score at which no tuning question gets a wrong answer, plus a margin of 0.05.
EMBEDDING_THRESHOLD = 0.78
TEXT_THRESHOLD = 0.46


@dataclass(frozen=True, slots=True)
class VerifiedAnswer:
    """One verified answer as stored: who wrote (or last edited) it, and when."""

    id: int
    question: str
    answer: str
    source_url: str | None
    domain: str | None
    author_name: str
    created_at: datetime
    updated_at: datetime
    embedding_model: str | None = None  # the model that embedded the question, if one did
    uses: int = 0
    # Who it is for (principals, as documents have them); None: everyone.
    audience: list[str] | None = None

    def is_for(self, scope: Scope) -> bool:
        """Whether a person with ``scope`` may be given it. An answer with an audience is
        never given when the person's groups could not be checked (fail closed)."""
        if self.audience is None:
            return True
        return scope.checked and not set(self.audience).isdisjoint(scope.principals)


class Keep:
    """Leave it as it is (an edit that does not name an audience)."""


KEEP = Keep()


@dataclass(frozen=True, slots=True)
class Author:
    """Who writes a verified answer: the users.id and the name shown under the answer."""

    user_id: int | None
    name: str


class VerifiedStore(Protocol):
    """``store.verified.PgVerifiedAnswers``."""

    async def add(
        self, question: str, answer: str, *, source_url: str | None, domain: str | None,
        author: Author, embedding: Sequence[float] | None, embedding_model: str | None,
        audience: Sequence[str] | None = None,
    ) -> VerifiedAnswer: ...

    async def edit(
        self, answer_id: int, answer: str, *, source_url: str | None, author: Author,
        audience: Sequence[str] | None | Keep = KEEP,
    ) -> VerifiedAnswer | None:
        """None when there is no such live answer. ``audience`` replaces the old one unless
        it is ``KEEP``; None makes it everyone's."""
        ...

    async def remove(self, answer_id: int) -> VerifiedAnswer | None: ...

    async def live(self) -> list[VerifiedAnswer]:
        """The answers not removed, oldest first, each with how often it was given."""
        ...

    async def version(self) -> tuple[int, datetime | None]:
        """(live answers, latest change): differs whenever anything was added, edited or removed."""
        ...

    async def set_embedding(self, answer_id: int, vector: Sequence[float], model: str) -> None: ...

    async def similarities(
        self, vector: Sequence[float], answer_ids: Sequence[int], model: str
    ) -> dict[int, float]:
        """Cosine similarity of ``vector`` with each answer's question vector made by ``model``."""
        ...

    async def record_use(self, message_id: int, answer_id: int) -> None:
        """Remember that answer ``message_id`` was verified answer ``answer_id``."""
        ...


class QuestionEmbedder(Protocol):
    """``core.embeddings.OpenAIEmbedder``."""

    model: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The similarity a question needs to be given a verified answer, per way of matching."""

    embedding: float = EMBEDDING_THRESHOLD
    text: float = TEXT_THRESHOLD


@dataclass(frozen=True, slots=True)
class VerifiedMatch:
    """A verified answer that answers an asked question, and how sure the match was."""

    answer: VerifiedAnswer
    score: float
    method: str  # "embeddings" or "text"

    @property
    def text(self) -> str:
        """The answer as the admin wrote it, under its mark and over its source."""
        return marked(self.answer)

    @property
    def route(self) -> RouteDecision:
        domains = (self.answer.domain,) if self.answer.domain else ()
        return RouteDecision(domains=domains, confidence=1.0, router="verified")


def mark(answer: VerifiedAnswer) -> str:
    """``Verified answer · Ana Lima · 4 Dec 2026``: who vouches for it, as of when."""
    day = answer.updated_at
    return f"Verified answer · {answer.author_name} · {day.day} {day:%b %Y}"


def marked(answer: VerifiedAnswer) -> str:
    parts = [f"_{mark(answer)}_", answer.answer]
    if answer.source_url:
        parts.append(f"Source: <{answer.source_url}>")
    return "\n\n".join(parts)


@dataclass(slots=True)
class _Loaded:
    answers: list[VerifiedAnswer] = field(default_factory=list)
    shapes: list[QuestionShape] = field(default_factory=list)
    version: tuple[int, datetime | None] | None = None
    checked_at: float = float("-inf")


class VerifiedAnswers:
    """Adds, edits, removes and matches verified answers.

    ``embedder`` (optional) matches by meaning; without it, or when it fails for a question,
    words and trigrams do. ``router`` files each answer under a domain when it is written (for
    stats); give it one that calls no model (``LexicalRouter``).
    """

    def __init__(
        self,
        store: VerifiedStore,
        *,
        embedder: QuestionEmbedder | None = None,
        router: Router | None = None,
        thresholds: Thresholds = Thresholds(),
        recheck_s: float = 5.0,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._router = router
        self._thresholds = thresholds
        self._recheck_s = recheck_s
        self._loaded = _Loaded()
        self._refresh: asyncio.Future[_Loaded] | None = None
        self._changes = 0  # admins' writes through this process

    # -- what admins do ----------------------------------------------------------------------

    async def add(
        self, question: str, answer: str, *, source_url: str | None, author: Author,
        audience: Sequence[str] | None = None,
    ) -> VerifiedAnswer:
        domain = None
        if self._router is not None:
            domain = (await self._router.route(question)).primary
        vector, model = None, None
        if self._embedder is not None:
            try:
                vector, model = await self._embedder.embed_query(question), self._embedder.model
            except ModelError as exc:
                # Stored without a vector; the next load embeds it.
                log.warning("verified_embedding_failed", error=str(exc))
        added = await self._store.add(
            question, answer, source_url=source_url, domain=domain, author=author,
            embedding=vector, embedding_model=model, audience=audience,
        )
        self._changed()
        return added

    async def edit(
        self, answer_id: int, answer: str, *, source_url: str | None, author: Author,
        audience: Sequence[str] | None | Keep = KEEP,
    ) -> VerifiedAnswer | None:
        edited = await self._store.edit(
            answer_id, answer, source_url=source_url, author=author, audience=audience
        )
        self._changed()
        return edited

    async def remove(self, answer_id: int) -> VerifiedAnswer | None:
        removed = await self._store.remove(answer_id)
        self._changed()
        return removed

    async def live(self) -> list[VerifiedAnswer]:
        """The answers in use, oldest first, each with how often it was given."""
        return await self._store.live()

    # -- what a question does ----------------------------------------------------------------

    async def match(self, question: str, scope: Scope | None = None) -> VerifiedMatch | None:
        """The verified answer that means the same as ``question`` and is for a person with
        ``scope`` (None: public answers only), or None — also when the answers cannot be
        read: the documents answer then, as before verified answers."""
        try:
            return await self._match(question, scope or Scope(checked=False))
        except Exception:
            log.exception("verified_match_failed")
            return None

    async def _match(self, question: str, scope: Scope) -> VerifiedMatch | None:
        loaded = await self._current()
        if not loaded.answers:
            return None
        asked = shape(question)
        # Answers for others and near-misses first: when none is left no vector is needed.
        open_ = [
            i
            for i, known in enumerate(loaded.shapes)
            if loaded.answers[i].is_for(scope) and veto(known, asked) is None
        ]
        if not open_:
            return None
        scored = await self._by_meaning(question, loaded, open_)
        method, threshold = "embeddings", self._thresholds.embedding
        if scored is None:
            scored = [(text_similarity(loaded.shapes[i], asked), i) for i in open_]
            method, threshold = "text", self._thresholds.text
        score, best = max(scored, key=lambda pair: (pair[0], loaded.answers[pair[1]].id))
        if score < threshold:
            return None
        return VerifiedMatch(loaded.answers[best], score, method)

    async def used(self, found: VerifiedMatch, message_id: int | None) -> None:
        """Remember which verified answer answer ``message_id`` was. The answer is shown by
        now: failing here must not make the question be answered again."""
        if message_id is None:
            return
        try:
            await self._store.record_use(message_id, found.answer.id)
        except Exception:
            log.exception("verified_use_not_recorded", message_id=message_id)

    async def _by_meaning(
        self, question: str, loaded: _Loaded, candidates: list[int]
    ) -> list[tuple[float, int]] | None:
        embedder = self._embedder
        if embedder is None:
            return None
        usable = [i for i in candidates if loaded.answers[i].embedding_model == embedder.model]
        if len(usable) != len(candidates):
            return None  # a vector is missing (its model was down): words judge all alike
        try:
            vector = await embedder.embed_query(question)
        except ModelError as exc:
            log.warning("verified_match_by_words", error=str(exc))
            return None
        scores = await self._store.similarities(
            vector, [loaded.answers[i].id for i in usable], embedder.model
        )
        return [(scores.get(loaded.answers[i].id, 0.0), i) for i in usable]

    # -- keeping the copy in memory current ---------------------------------------------------

    def _changed(self) -> None:
        self._loaded.checked_at = float("-inf")
        self._changes += 1
        self._refresh = None  # a check already under way may have read the copy before this

    async def _current(self) -> _Loaded:
        """The copy in memory, checked against the table at most every ``recheck_s``. The
        questions of a burst share one check: the first starts it, the others wait for it."""
        loaded = self._loaded
        if time.monotonic() - loaded.checked_at < self._recheck_s:
            return loaded
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._reload(self._changes))
        return await asyncio.shield(self._refresh)

    async def _reload(self, changes: int) -> _Loaded:
        now = time.monotonic()
        loaded = self._loaded
        version = await self._store.version()
        if version != loaded.version:
            answers = await self._embed_missing(await self._store.live())
            loaded = _Loaded(
                answers=answers, shapes=[shape(a.question) for a in answers], version=version
            )
        if changes == self._changes:
            # Nothing was written here while this check ran: good for ``recheck_s``.
            loaded.checked_at = now
            self._loaded = loaded
        return loaded

    async def _embed_missing(self, answers: list[VerifiedAnswer]) -> list[VerifiedAnswer]:
        """Vectors for questions stored without one, or by another model than today's."""
        embedder = self._embedder
        if embedder is None:
            return answers
        stale = [a for a in answers if a.embedding_model != embedder.model]
        if not stale:
            return answers
        try:
            vectors = await embedder.embed([a.question for a in stale])
        except ModelError as exc:
            log.warning("verified_embedding_failed", error=str(exc), answers=len(stale))
            return answers
        for answer, vector in zip(stale, vectors, strict=True):
            await self._store.set_embedding(answer.id, vector, embedder.model)
        fresh = {a.id for a in stale}
        return [replace(a, embedding_model=embedder.model) if a.id in fresh else a for a in answers]
