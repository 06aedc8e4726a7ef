"""The inbox: every accepted platform event once, held by one process at a time until answered.

The Postgres ``inbox`` table, unique on the event key and on the message key, turns away
duplicate deliveries on every replica and keeps the record of what happened to each event. The
process that accepts an event claims its row at once: a lease (``lease_until``, renewed while it
works) and a claim token that fences its bookkeeping. When the lease runs out — the process
died, or gave the event back to be tried again — the ``InboxWorker`` (core/worker.py) of any
replica claims the row again with ``FOR UPDATE SKIP LOCKED``. Every claim is an attempt; after
``max_attempts`` the event is given up.

    accept ──▶ working ──done──▶ done
                 │  ╰──failed──▶ failed
                 ╰──retry──▶ pending ──(lease over: claimed again)──▶ working
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import psycopg
import structlog
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.metrics import Metrics
from core.worker import ClaimedEvent, QueueDepth
from store.arrivals import Arrivals
from store.batched import Batched

log = structlog.get_logger(__name__)

# Errors that mean "the database is not there right now", as opposed to a bad statement.
_UNAVAILABLE = (psycopg.OperationalError, PoolTimeout, OSError, TimeoutError)

_CLAIM_DUE = """
WITH due AS (
    SELECT id, attempts AS tried FROM inbox
    WHERE state IN ('pending', 'working')
      AND lease_until < now()
      AND platform = ANY(%(platforms)s)
      AND NOT (event_key = ANY(%(held)s))
    ORDER BY lease_until
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
UPDATE inbox AS i SET
    state = 'working',
    attempts = CASE WHEN due.tried >= %(max)s THEN i.attempts ELSE i.attempts + 1 END,
    lease_until = now() + make_interval(secs => %(lease)s),
    claim = gen_random_uuid()::text,
    owner = %(owner)s,
    updated_at = now()
FROM due WHERE i.id = due.id
RETURNING i.event_key, i.platform, i.claim, i.attempts, i.payload, i.progress, i.last_error,
          due.tried >= %(max)s
"""

# Answered events settled together (``store.batched``): each row only if its claim is still
# the one given (the fence), locked in key order as every replica does.
_DONE = """
WITH mine AS (
    SELECT i.id FROM inbox i
    JOIN unnest(%(keys)s::text[], %(claims)s::text[]) AS d(k, c)
      ON i.event_key = d.k AND i.claim = d.c
    ORDER BY i.event_key
    FOR UPDATE OF i)
UPDATE inbox AS i SET state = 'done', lease_until = NULL, claim = NULL, updated_at = now()
FROM mine WHERE i.id = mine.id
RETURNING i.event_key
"""

# What attempts in flight want kept for the next one, merged into each row still theirs. A
# reply's writes come one after another, so a row appears once in a statement.
_PROGRESS = """
WITH mine AS (
    SELECT i.id, d.p FROM inbox i
    JOIN unnest(%(keys)s::text[], %(claims)s::text[], %(progress)s::jsonb[]) AS d(k, c, p)
      ON i.event_key = d.k AND i.claim = d.c
    ORDER BY i.event_key
    FOR UPDATE OF i)
UPDATE inbox AS i SET progress = i.progress || mine.p
FROM mine WHERE i.id = mine.id
"""


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class EventInbox:
    """Accepts events once and keeps the books of each attempt at answering them.

    ``accept`` returns the claim on a new event (None for a duplicate). The answering code then
    ends the attempt with exactly one of ``done``, ``failed`` or ``retry``; ``progress`` records
    on the way what a later attempt needs to finish or replace what this one showed. Those
    final writes are retried while the database is away (up to ``lease_s``), so an answer
    finished during a restart is not taken for an unfinished one.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        metrics: Metrics | None = None,
        lease_s: float = 60.0,
        max_attempts: int = 3,
        retry_delay_s: float = 5.0,
        accept_timeout_s: float = 10.0,
        replica: str | None = None,
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self._retry_delay = retry_delay_s
        self.accept_timeout_s = accept_timeout_s
        self.replica = replica or replica_name()
        self._arrivals = Arrivals(pool, lease_s=lease_s, owner=self.replica)
        self._done: Batched[ClaimedEvent, bool] = Batched(self._done_together)
        self._progress: Batched[tuple[ClaimedEvent, dict[str, Any]], None] = Batched(
            self._progress_together
        )
        # Event key -> claim token of every row this process is working on.
        self._held: dict[str, str] = {}

    @property
    def held(self) -> frozenset[str]:
        """Keys of the events this process is answering now."""
        return frozenset(self._held)

    # -- arrival -------------------------------------------------------------------------------

    async def accept(
        self,
        event_key: str,
        platform: str,
        payload: Mapping[str, Any],
        *,
        message_key: str | None = None,
    ) -> ClaimedEvent | None:
        """Record the event and claim it; None when its key, or its ``message_key``, was seen
        before (a duplicate: the same delivery again, or the same message under another id).

        Raises when the database cannot record it: the delivery must then not be acknowledged,
        so the platform sends it again.
        """
        self._count("events_received", platform=platform)
        token = uuid.uuid4().hex
        # Bounded, so a request does not hang while the database is away (the platform sends
        # the event again); long enough that a burst queueing for the pool is not refused: a
        # late ack only costs a duplicate delivery, which is turned away.
        # Events arriving together share one INSERT (store/arrivals.py): a burst costs a few
        # statements, not one per event. The INSERT is also the one check for duplicates, on
        # every replica: a copy costs a skipped row in a statement that runs anyway, where a
        # check in Redis before it cost every delivery a round trip of its own, a third of
        # the CPU of an ack in a burst (docs/benchmarks.md, latency, round eight).
        created = await self._arrivals.insert(
            event_key, platform, payload, token, timeout=self.accept_timeout_s,
            message_key=message_key,
        )
        if not created:
            self._count("events_deduplicated", platform=platform)
            return None
        self._held[event_key] = token
        return ClaimedEvent(
            event_key=event_key, platform=platform, token=token, attempt=1, payload=payload
        )

    # -- the end of an attempt -----------------------------------------------------------------

    async def done(self, claim: ClaimedEvent | str) -> None:
        """The event was answered (or refused with a reason the user saw). Answers finishing
        together are settled in one statement."""
        if isinstance(claim, ClaimedEvent):
            await self._settle(claim, "done", self._done(claim))
            return
        await self._finish(
            claim,
            "done",
            "UPDATE inbox SET state = 'done', lease_until = NULL, claim = NULL, "
            "updated_at = now() WHERE event_key = %(key)s{fence}",
            {},
        )

    async def failed(
        self, claim: ClaimedEvent | str, error: str, *, outcome: str = "failed"
    ) -> None:
        """The event will not be answered; ``error`` says why (the user has been told)."""
        await self._finish(
            claim,
            outcome,
            "UPDATE inbox SET state = 'failed', last_error = %(error)s, lease_until = NULL, "
            "claim = NULL, updated_at = now() WHERE event_key = %(key)s{fence}",
            {"error": error[:2000]},
        )

    async def retry(
        self,
        claim: ClaimedEvent,
        error: str,
        *,
        progress: Mapping[str, Any] | None = None,
    ) -> bool:
        """Give the event back to be tried again after a pause; False (and the event marked
        failed) when it has no attempts left, and the caller must tell the user."""
        if claim.attempt >= self.max_attempts:
            await self.failed(claim, f"gave up after {claim.attempt} attempts: {error}")
            return False
        await self._finish(
            claim,
            "retried",
            "UPDATE inbox SET state = 'pending', last_error = %(error)s, claim = NULL, "
            "progress = progress || %(progress)s, "
            "lease_until = now() + make_interval(secs => %(delay)s), updated_at = now() "
            "WHERE event_key = %(key)s{fence}",
            {
                "error": error[:2000],
                "progress": Jsonb(dict(progress or {})),
                "delay": self._retry_delay * claim.attempt,
            },
        )
        return True

    def abandon(self, claim: ClaimedEvent) -> None:
        """Stop renewing ``claim`` without a word (its attempt broke before its bookkeeping):
        the lease runs out and another attempt follows, as after a crash."""
        if self._held.get(claim.event_key) == claim.token:
            del self._held[claim.event_key]

    async def progress(self, claim: ClaimedEvent, data: Mapping[str, Any]) -> None:
        """Remember ``data`` (merged into the row's progress) for a later attempt. Best effort:
        an answer never waits long for it. Writes made together share one statement."""
        try:
            await self._progress((claim, dict(data)))
        except _UNAVAILABLE as exc:
            log.warning("inbox_progress_not_saved", event_key=claim.event_key, error=str(exc))

    async def _progress_together(
        self, writes: Sequence[tuple[ClaimedEvent, dict[str, Any]]]
    ) -> list[None]:
        async with self._pool.connection(timeout=2) as conn:
            await conn.execute(
                _PROGRESS,
                {
                    "keys": [claim.event_key for claim, _ in writes],
                    "claims": [claim.token for claim, _ in writes],
                    "progress": [Jsonb(data) for _, data in writes],
                },
            )
        return [None] * len(writes)

    async def _finish(
        self, claim: ClaimedEvent | str, outcome: str, query: str, params: dict[str, Any]
    ) -> None:
        if isinstance(claim, ClaimedEvent):
            params = {**params, "key": claim.event_key, "token": claim.token}
            query = query.format(fence=" AND claim = %(token)s")
            await self._settle(claim, outcome, self._write_until_done(query, params))
            return
        try:
            await self._write_until_done(query.format(fence=""), {**params, "key": claim})
        finally:
            self._held.pop(claim, None)

    async def _settle(self, claim: ClaimedEvent, outcome: str, write: Awaitable[bool]) -> None:
        try:
            changed = await write
        finally:
            self._held.pop(claim.event_key, None)
        if not changed:
            # Our lease ran out and another attempt holds the event now; it keeps the books.
            log.warning("inbox_claim_lost", event_key=claim.event_key, outcome=outcome)
        self._count("events_finished", platform=claim.platform, outcome=outcome)

    async def _done_together(self, claims: Sequence[ClaimedEvent]) -> list[bool]:
        rows = await self._until_done(
            _DONE,
            {"keys": [c.event_key for c in claims], "claims": [c.token for c in claims]},
            rows=True,
        )
        settled = {key for (key,) in rows}
        return [c.event_key in settled for c in claims]

    async def _write_until_done(self, query: str, params: dict[str, Any]) -> bool:
        return bool(await self._until_done(query, params))

    async def _until_done(self, query: str, params: dict[str, Any], *, rows: bool = False) -> Any:
        """Run one bookkeeping statement, retrying while the database is away (up to the lease:
        after that another replica may claim the event anyway): the rows it returned with
        ``rows``, else how many it changed."""
        deadline = time.monotonic() + self.lease_s
        delay = 0.2
        while True:
            try:
                async with self._pool.connection(timeout=max(1.0, min(10.0, self.lease_s))) as conn:
                    cur = await conn.execute(query, params)
                    return await cur.fetchall() if rows else cur.rowcount
            except _UNAVAILABLE as exc:
                if time.monotonic() + delay > deadline:
                    log.error("inbox_write_failed", error=str(exc))
                    raise
                log.warning("inbox_write_retrying", error=str(exc), in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- the worker's side ---------------------------------------------------------------------

    async def claim_due(self, platforms: Sequence[str], limit: int) -> list[ClaimedEvent]:
        """Claim up to ``limit`` events whose lease ran out; rows another replica is claiming
        right now are skipped, not waited for."""
        if limit <= 0 or not platforms:
            return []
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                _CLAIM_DUE,
                {
                    "platforms": list(platforms),
                    "held": list(self._held),
                    "limit": limit,
                    "max": self.max_attempts,
                    "lease": self.lease_s,
                    "owner": self.replica,
                },
            )
            rows = await cur.fetchall()
        claims = [
            ClaimedEvent(
                event_key=key,
                platform=platform,
                token=token,
                attempt=attempts,
                payload=payload or {},
                progress=progress or {},
                last_error=last_error,
                exhausted=bool(exhausted),
            )
            for key, platform, token, attempts, payload, progress, last_error, exhausted in rows
        ]
        for claim in claims:
            self._held[claim.event_key] = claim.token
        return claims

    async def forget_attempt(self, claim: ClaimedEvent) -> None:
        """Delete the question an unfinished earlier attempt stored (and its answer, when it
        got that far), so the new attempt's are the only ones in the conversation. Both rows
        carry the event's key; an answer id in the progress is from a release that wrote it
        there instead."""
        answer_id = claim.progress.get("message_id")
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM messages WHERE event_key = %s AND role IN ('user', 'assistant')",
                (claim.event_key,),
            )
            if isinstance(answer_id, int):
                await conn.execute(
                    "DELETE FROM messages WHERE id = %s AND role = 'assistant'", (answer_id,)
                )

    async def renew(self) -> int:
        """Extend the lease of every event this process is still answering."""
        tokens = list(self._held.values())
        if not tokens:
            return 0
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE inbox SET lease_until = now() + make_interval(secs => %s) "
                "WHERE claim = ANY(%s) AND state = 'working'",
                (self.lease_s, tokens),
            )
            return cur.rowcount

    async def release_held(self) -> int:
        """On shutdown, after the answers in flight were given their grace: let another
        replica take over what is still held here now, not when the leases run out."""
        tokens = list(self._held.values())
        self._held.clear()
        if not tokens:
            return 0
        try:
            async with self._pool.connection(timeout=2) as conn:
                cur = await conn.execute(
                    "UPDATE inbox SET lease_until = now() WHERE claim = ANY(%s) AND state = 'working'",
                    (tokens,),
                )
                return cur.rowcount
        except _UNAVAILABLE as exc:
            log.warning("inbox_release_failed", error=str(exc), held=len(tokens))
            return 0

    async def depth(self) -> QueueDepth:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT count(*) FILTER (WHERE state = 'pending'),
                          count(*) FILTER (WHERE state = 'working'),
                          coalesce(extract(epoch FROM now() - min(created_at)), 0)
                   FROM inbox WHERE state IN ('pending', 'working')"""
            )
            row = await cur.fetchone()
        assert row is not None
        return QueueDepth(pending=int(row[0]), working=int(row[1]), oldest_s=float(row[2]))

    def _count(self, name: str, **labels: str) -> None:
        if self._metrics is not None:
            getattr(self._metrics, name).labels(**labels).inc()
