"""Forget-me wins over lookups in flight.

A person's identity and groups are looked up in the background (``People``, ``Groups``), on
any replica. Forget-me deletes what is kept, but a lookup that started before it could write
it back a moment later. So forget-me first leaves a mark (a fresh random token under
``forgotten:<hash of the key>``, kept at least an hour), then deletes; a lookup reads
the mark before it asks, writes, and reads the mark again: a changed mark means forget-me came
in between, and the lookup deletes what it wrote. Whichever of the two finishes last, the
entry is gone. No clocks are compared, so replicas need not agree on the time.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Protocol


class Cache(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[str | None]: ...

    async def set(self, key: str, value: str, ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...


def _mark(key: str) -> str:
    # Hashed: the mark outlives forget-me, so it must not name the person (their email).
    return "forgotten:" + hashlib.sha256(key.encode()).hexdigest()[:32]


async def mark_of(cache: Cache, key: str) -> str | None:
    """Read before a lookup starts; handed to ``keep`` with its result."""
    return await cache.get(_mark(key))


async def kept_and_mark(cache: Cache, key: str) -> tuple[str | None, str | None]:
    """What is kept under ``key``, and its mark (``mark_of``) for a lookup that may follow a
    miss: one round trip, where a miss would otherwise be read and then its mark."""
    value, mark = await cache.get_many([key, _mark(key)])
    return value, mark


async def keep(cache: Cache, key: str, value: str, ttl: float, mark: str | None) -> bool:
    """Write ``value`` unless forget-me came since ``mark`` was read; False when it did (and
    nothing is left written)."""
    if await cache.get(_mark(key)) != mark:
        return False
    await cache.set(key, value, ttl)
    if await cache.get(_mark(key)) != mark:
        await cache.delete(key)
        return False
    return True


async def forget(cache: Cache, key: str, ttl: float) -> None:
    """Delete ``key`` and mark it, so no lookup already under way writes it back."""
    # Kept at least an hour: longer than any lookup (paced, with retries) runs.
    await cache.set(_mark(key), uuid.uuid4().hex, max(ttl, 3600.0))
    await cache.delete(key)
