"""Work that outlives the request that started it: kept referenced, drained on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class BackgroundTasks:
    """Answers in flight after their event was acknowledged.

    The event loop keeps only weak references to tasks, so an unreferenced task can vanish
    mid-answer; this set holds them until they end. ``drain`` lets them finish on shutdown
    and cancels what is still running after the grace period.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(
        self, work: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background_task_failed", task=task.get_name(), error=repr(task.exception()))

    async def idle(self) -> None:
        """Wait until no work is in flight (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def drain(self, grace_s: float) -> None:
        """Wait up to ``grace_s`` for the work in flight, then cancel the rest."""
        if not self._tasks:
            return
        pending = set(self._tasks)
        log.info("draining_answers", in_flight=len(pending), grace_s=grace_s)
        _, still = await asyncio.wait(pending, timeout=grace_s)
        for task in still:
            task.cancel()
        if still:
            await asyncio.gather(*still, return_exceptions=True)
            log.warning("answers_cancelled_at_shutdown", count=len(still))
