"""The answer cache, kept apart by audience: an answer that used a restricted document is
served only to people with the same principals; an answer from public documents to anyone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.identity.principals import EVERYONE, Scope
from core.llm.cache import AnswerCache, CachedAnswer


class RestrictedDocuments(Protocol):
    """Whether any of these documents is restricted (``store.audiences.PgAudiences``)."""

    async def any_restricted(self, document_ids: Sequence[int]) -> bool: ...

    async def readable(self, document_ids: Sequence[int], principals: Sequence[str]) -> bool: ...


class ScopedAnswerCache:
    """``AnswerCache`` keys with the scope added: ``{domain}@{scope key}``."""

    def __init__(self, cache: AnswerCache, documents: RestrictedDocuments | None) -> None:
        self._cache = cache
        self._documents = documents

    async def get(self, domain: str, question: str, scope: Scope) -> CachedAnswer | None:
        """A cached answer, served only when the asker may still read every document it cites
        (audiences change after an answer was cached: a revoked or newly restricted document
        makes the hit a miss)."""
        keys = [scope.key, EVERYONE] if scope.key != EVERYONE else [EVERYONE]
        for key in keys:
            hit = await self._cache.get(f"{domain}@{key}", question)
            if hit is not None and await self._still_readable(hit, scope):
                return hit
        return None

    async def _still_readable(self, hit: CachedAnswer, scope: Scope) -> bool:
        if self._documents is None or not hit.sources:
            return True
        return await self._documents.readable(
            [p.document_id for p in hit.sources], scope.principals
        )

    async def put(self, domain: str, question: str, scope: Scope, answer: CachedAnswer) -> None:
        restricted = self._documents is None or await self._documents.any_restricted(
            [p.document_id for p in answer.sources]
        )
        # Without a way to tell, every answer stays with its own audience.
        key = scope.key if restricted else EVERYONE
        await self._cache.put(f"{domain}@{key}", question, answer)
