"""Job runs (``job_runs``) and the advisory lock that lets one replica run a job at a time."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

Outcome = Literal["running", "succeeded", "failed", "skipped"]
Trigger = Literal["schedule", "manual"]

# The first half of the two-key advisory lock: a namespace of our own, so a job's lock never
# collides with the migration lock or anyone else's single-key locks.
_JOB_LOCK_NAMESPACE = 0x5B_0007


def lock_key(job: str) -> int:
    """A stable signed 32-bit key for ``job`` (the same in every replica and every release)."""
    value = zlib.crc32(job.encode("utf-8"))
    return value - (1 << 32) if value >= (1 << 31) else value


@asynccontextmanager
async def advisory_lock(url: str, job: str) -> AsyncIterator[bool]:
    """Try to take ``job``'s lock on a connection of its own; yield whether we hold it.

    The lock is a session lock on a dedicated connection (never a pooled one, which would go back
    to the pool still holding it). If this process dies, Postgres ends the session and frees it.
    """
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10)
    try:
        cur = await conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (_JOB_LOCK_NAMESPACE, lock_key(job))
        )
        row = await cur.fetchone()
        held = bool(row and row[0])
        try:
            yield held
        finally:
            if held and not conn.closed:
                await conn.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (_JOB_LOCK_NAMESPACE, lock_key(job))
                )
    finally:
        await conn.close()


@dataclass(frozen=True, slots=True)
class JobRun:
    """One recorded run of a job."""

    id: int
    job: str
    trigger: str
    scheduled_for: datetime | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    counts: dict[str, Any]
    error: str | None
    replica: str | None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


_COLUMNS = (
    "id, job, trigger, scheduled_for, started_at, finished_at, outcome, counts, error, replica"
)


class JobRunStore:
    """Start, finish and read job runs."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def start(
        self,
        job: str,
        *,
        trigger: Trigger,
        scheduled_for: datetime | None,
        replica: str,
    ) -> int | None:
        """Record a run as started. ``None`` when that scheduled slot already has a run."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """INSERT INTO job_runs (job, trigger, scheduled_for, replica)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (job, scheduled_for) WHERE scheduled_for IS NOT NULL DO NOTHING
                   RETURNING id""",
                (job, trigger, scheduled_for, replica),
            )
            row = await cur.fetchone()
        return int(row[0]) if row else None

    async def finish(
        self,
        run_id: int,
        outcome: Outcome,
        *,
        counts: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """UPDATE job_runs SET outcome = %s, finished_at = clock_timestamp(),
                       counts = %s, error = %s
                   WHERE id = %s""",
                (outcome, Jsonb(dict(counts or {})), error, run_id),
            )

    async def close_interrupted(self, job: str) -> int:
        """Mark ``job``'s runs still 'running' as failed. Call only while holding its lock:
        then no live process can be running it, so such rows were left by one that died."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """UPDATE job_runs SET outcome = 'failed', finished_at = clock_timestamp(),
                       error = 'interrupted: the process running it stopped'
                   WHERE job = %s AND outcome = 'running'""",
                (job,),
            )
            return cur.rowcount

    async def get(self, run_id: int) -> JobRun | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(JobRun))
            await cur.execute(f"SELECT {_COLUMNS} FROM job_runs WHERE id = %s", (run_id,))
            return await cur.fetchone()

    async def last_runs(self) -> dict[str, JobRun]:
        """The latest run of each job that has ever run."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(JobRun))
            await cur.execute(
                f"""SELECT DISTINCT ON (job) {_COLUMNS} FROM job_runs
                    ORDER BY job, started_at DESC, id DESC"""
            )
            return {run.job: run for run in await cur.fetchall()}

    async def recent(self, job: str, limit: int = 20) -> list[JobRun]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(JobRun))
            await cur.execute(
                f"""SELECT {_COLUMNS} FROM job_runs WHERE job = %s
                    ORDER BY started_at DESC, id DESC LIMIT %s""",
                (job, limit),
            )
            return await cur.fetchall()
