"""Events nobody is answering any more: claimed again from the inbox and answered.

The process that accepts an event answers it, holding the inbox row's lease while it works and
renewing it. When that process dies mid-answer, or gives the event back after a failure, the
lease runs out; then the worker of any replica claims the row (``FOR UPDATE SKIP LOCKED``: two
replicas never take the same one) and hands it to the platform's ``Redelivery``, which answers
again and finishes or replaces what the first attempt showed. An event that has used up its
attempts is given up: marked failed with its error, and the user is told.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from structlog.contextvars import bind_contextvars

from core.metrics import Metrics
from core.observability import new_request_id

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """An inbox row this process holds: the event, which attempt this is, and what earlier
    attempts left behind for the adapter (``progress``: message ids, the stored answer's id).

    ``token`` fences the claim: bookkeeping under a token that is no longer the row's does
    nothing. ``exhausted``: no attempts left, the event is to be given up.
    """

    event_key: str
    platform: str
    token: str
    attempt: int
    payload: Mapping[str, Any] = field(default_factory=dict)
    progress: Mapping[str, Any] = field(default_factory=dict)
    last_error: str | None = None
    exhausted: bool = False


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Unfinished inbox rows: waiting for a retry, being answered, and the oldest one's age."""

    pending: int
    working: int
    oldest_s: float


class EventQueue(Protocol):
    """What the worker needs from the inbox (``store.inbox.EventInbox``)."""

    async def claim_due(self, platforms: Sequence[str], limit: int) -> list[ClaimedEvent]: ...

    async def forget_attempt(self, claim: ClaimedEvent) -> None:
        """Drop what an unfinished earlier attempt stored, so the new one is the only one."""
        ...

    async def failed(self, claim: ClaimedEvent, error: str, *, outcome: str = "failed") -> None: ...

    async def renew(self) -> int:
        """Extend the leases this process holds; how many were extended."""
        ...

    async def depth(self) -> QueueDepth: ...


class Redelivery(Protocol):
    """A platform's way to answer a claimed event again, or to tell its user it failed.

    ``redeliver`` does the whole answer and its bookkeeping (done, retry, failed), as the
    first attempt does. ``give_up`` only tells the user; the worker marks the row failed.
    """

    async def redeliver(self, claim: ClaimedEvent) -> None: ...

    async def give_up(self, claim: ClaimedEvent) -> None: ...


class InboxWorker:
    """Every ``sweep_s``: renews this process's leases, refreshes the inbox gauges, and claims
    due events (at most ``capacity`` at once in this process) for the registered platforms."""

    def __init__(
        self,
        queue: EventQueue,
        *,
        sweep_s: float = 5.0,
        capacity: int = 50,
        metrics: Metrics | None = None,
    ) -> None:
        self._queue = queue
        self._sweep_s = sweep_s
        self._capacity = capacity
        self._metrics = metrics
        self._handlers: dict[str, Redelivery] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    def register(self, platform: str, handler: Redelivery) -> None:
        self._handlers[platform] = handler

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.create_task(self._sweep_forever(), name="inbox-worker")

    async def aclose(self, grace_s: float = 10.0) -> None:
        """Stop sweeping; give redeliveries in flight ``grace_s`` to end, then cancel them
        (their rows' leases run out and another replica takes them)."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        if self._running:
            _, still = await asyncio.wait(set(self._running), timeout=grace_s)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)

    async def idle(self) -> None:
        """Wait for the redeliveries started so far (tests)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — the sweep must outlive any failure
                # The database may be down; the next sweep tries again.
                log.warning("inbox_sweep_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self._sweep_s)

    async def sweep(self) -> int:
        """One pass; returns how many events were claimed."""
        await self._queue.renew()
        await self._observe_depth()
        room = self._capacity - len(self._running)
        if room <= 0 or not self._handlers:
            return 0
        claims = await self._queue.claim_due(sorted(self._handlers), room)
        for claim in claims:
            task = asyncio.create_task(self._run(claim), name=f"redeliver:{claim.event_key}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return len(claims)

    async def _observe_depth(self) -> None:
        if self._metrics is None:
            return
        depth = await self._queue.depth()
        self._metrics.inbox_depth.labels(state="pending").set(depth.pending)
        self._metrics.inbox_depth.labels(state="working").set(depth.working)
        self._metrics.inbox_oldest_age.set(depth.oldest_s)

    async def _run(self, claim: ClaimedEvent) -> None:
        # A task of its own: the request id (the event key, as in Socket Mode) follows this
        # event's log lines only.
        new_request_id(claim.event_key)
        bind_contextvars(event_key=claim.event_key, attempt=claim.attempt)
        handler = self._handlers[claim.platform]
        try:
            if claim.exhausted:
                await self._give_up(handler, claim)
                return
            log.info("event_redelivered", platform=claim.platform, last_error=claim.last_error)
            if self._metrics is not None:
                self._metrics.events_redelivered.labels(platform=claim.platform).inc()
            await self._queue.forget_attempt(claim)
            await handler.redeliver(claim)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease runs out and the next attempt (or the give-up) follows.
            log.exception("redelivery_failed", platform=claim.platform)

    async def _give_up(self, handler: Redelivery, claim: ClaimedEvent) -> None:
        reason = f"gave up after {claim.attempt} attempts: {claim.last_error or 'no answer'}"
        log.error("event_given_up", platform=claim.platform, reason=reason)
        try:
            await handler.give_up(claim)
        except Exception:
            log.exception("give_up_not_delivered", platform=claim.platform)
        await self._queue.failed(claim, reason, outcome="gave_up")
