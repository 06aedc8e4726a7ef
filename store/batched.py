"""Calls made in the same turn of the event loop, sent to Postgres as one statement.

In a burst, hundreds of answers make the same small statement at about the same moment, each
through the pool. A statement holds its connection until the loop comes back to read the
reply, which under load is far longer than Postgres takes to run it, so the calls queue for
the pool's connections rather than for the database (docs/benchmarks.md, latency, round
fifteen). ``Batched`` queues each call; a writer sends what queued during one turn of the loop
(at most ``max_batch`` items) as one statement and gives each caller its own result, or the
statement's error. A lone call waits one turn of the loop and goes alone.

One bad item must not fail the others: when a statement of several is refused for what it
holds (``psycopg.DataError``, ``psycopg.IntegrityError``: a row whose conversation was just
deleted by a forget-me, a value Postgres cannot store), each item is sent again alone, so only
its own caller hears the error. A database that is away fails them all at once, as it would
have failed each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import psycopg

T = TypeVar("T")
R = TypeVar("R")

# Items one statement takes at most.
MAX_BATCH = 200
# What a statement is refused for because of one of its items.
_ITEM_ERRORS = (psycopg.DataError, psycopg.IntegrityError)


@dataclass(slots=True)
class _Call(Generic[T, R]):
    item: T
    result: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batched(Generic[T, R]):
    """``await batched(item)``: ``run`` is called with the items queued together and returns
    one result for each, in their order."""

    def __init__(
        self, run: Callable[[Sequence[T]], Awaitable[Sequence[R]]], *, max_batch: int = MAX_BATCH
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._queued: list[_Call[T, R]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        call: _Call[T, R] = _Call(item)
        self._queued.append(call)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run_all())
        # A caller that gives up does not take the others' statement down with it.
        return await asyncio.shield(call.result)

    async def _run_all(self) -> None:
        while self._queued:
            await asyncio.sleep(0)  # let the rest of this turn's calls join
            batch = self._queued[: self._max_batch]
            del self._queued[: self._max_batch]
            try:
                results = await self._run([call.item for call in batch])
            except _ITEM_ERRORS as exc:
                if len(batch) > 1:
                    await self._one_by_one(batch)  # only the bad item's caller hears of it
                else:
                    self._fail(batch, exc)
                continue
            except BaseException as exc:
                self._fail(batch, exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for call, result in zip(batch, results, strict=True):
                if not call.result.done():
                    call.result.set_result(result)

    async def _one_by_one(self, batch: list[_Call[T, R]]) -> None:
        for call in batch:
            try:
                (result,) = await self._run([call.item])
            except Exception as exc:  # noqa: BLE001 — handed to its caller, who raises it
                self._fail([call], exc)
            else:
                if not call.result.done():
                    call.result.set_result(result)

    @staticmethod
    def _fail(calls: list[_Call[T, R]], exc: BaseException) -> None:
        for call in calls:
            if not call.result.done():
                call.result.set_exception(exc)
                call.result.exception()  # the caller re-raises it; never "unretrieved"
