"""Runs the registered jobs on their cron schedules inside the server, one replica per slot.

Every replica runs an APScheduler ``AsyncIOScheduler`` with the same schedules. When a slot
comes, each replica tries the job's Postgres advisory lock on a connection of its own; the one
that gets it records the run in ``job_runs`` under that slot, and the unique (job, slot) index
turns away a replica that arrives after the first one has already finished. A job that fails is
logged and recorded as failed; it runs again at its next slot. Nothing a job does can stop the
scheduler or the server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from core.errors import JobBusy
from core.metrics import Metrics
from jobs.cron import cron_trigger
from jobs.registry import Job, JobRegistry, JobResult
from store.jobs import JobRun, JobRunStore, Trigger, advisory_lock

log = structlog.get_logger(__name__)

# A slot fired this late (a busy loop, a replica that just started) still runs; later, it is
# left to the next slot.
MISFIRE_GRACE_S = 300
# On shutdown, running jobs are cancelled and given this long to record that they were.
SHUTDOWN_GRACE_S = 10.0


def replica_name() -> str:
    """Who ran a job, as shown in ``job_runs.replica``: host, process, and a per-scheduler tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def slot_of(trigger: CronTrigger, now: datetime) -> datetime:
    """The scheduled time this firing belongs to: the latest fire time not after ``now``."""
    slot = None
    probe = trigger.get_next_fire_time(None, now - timedelta(seconds=MISFIRE_GRACE_S))
    while probe is not None and probe <= now:
        slot = probe
        probe = trigger.get_next_fire_time(probe, probe + timedelta(microseconds=1))
    return (slot or now).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class RunReport:
    """A finished run as recorded, and what the job said it did (None if it raised)."""

    run: JobRun
    result: JobResult | None


class JobScheduler:
    """Schedules every job of ``registry``; ``start()`` inside the running loop, then ``aclose()``.

    ``lock_url`` is the database URL the advisory locks are taken on (one short-lived connection
    per run, so a pooled connection never keeps a lock). ``run_now`` runs one job immediately
    under the same lock and records it as a manual run.
    """

    def __init__(
        self,
        registry: JobRegistry,
        *,
        runs: JobRunStore,
        lock_url: str,
        timezone: str = "UTC",
        replica: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._registry = registry
        self._metrics = metrics
        self._runs = runs
        self._lock_url = lock_url
        self._timezone = timezone
        self.replica = replica or replica_name()
        self._triggers: dict[str, CronTrigger] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[object]] = set()

    @property
    def registry(self) -> JobRegistry:
        return self._registry

    def trigger(self, name: str) -> CronTrigger:
        """``name``'s schedule; ``ConfigurationError`` naming its setting when it is invalid."""
        if name not in self._triggers:
            job = self._registry.get(name)
            self._triggers[name] = cron_trigger(job.cron, self._timezone, setting=job.setting)
        return self._triggers[name]

    def next_run_time(self, name: str, now: datetime | None = None) -> datetime | None:
        return self.trigger(name).get_next_fire_time(None, now or datetime.now(UTC))

    def start(self) -> None:
        """Begin scheduling. Must be called from inside the running event loop.

        Raises ``ConfigurationError`` (before scheduling anything) when a schedule is invalid.
        """
        if self._scheduler is not None:
            return
        triggers = {job.name: self.trigger(job.name) for job in self._registry}
        scheduler = AsyncIOScheduler(timezone=self._timezone)
        for job in self._registry:
            scheduler.add_job(
                self._fire,
                triggers[job.name],
                args=[job.name],
                id=job.name,
                name=job.name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=MISFIRE_GRACE_S,
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("jobs_scheduled", replica=self.replica, jobs=self._registry.names())

    async def aclose(self) -> None:
        """Stop scheduling; cancel running jobs and let them record that they were cancelled."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.wait(list(self._running), timeout=SHUTDOWN_GRACE_S)

    async def run_now(self, name: str) -> RunReport:
        """Run ``name`` now as a manual run. Raises ``JobBusy`` when it is already running."""
        job = self._registry.get(name)
        report = await self._execute(job, trigger="manual", slot=None)
        if report is None:
            raise JobBusy(
                f"{name} is running right now (on this or another replica); try again when it "
                "has finished."
            )
        return report

    async def _fire(self, name: str) -> None:
        """APScheduler's entry point for a slot. Never raises: a failure is logged and recorded."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            job = self._registry.get(name)
            slot = slot_of(self.trigger(name), datetime.now(UTC))
            await self._execute(job, trigger="schedule", slot=slot)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Reaching here means the bookkeeping itself failed (say, the database is down).
            log.exception("job_not_run", job=name, replica=self.replica)
        finally:
            if task is not None:
                self._running.discard(task)

    async def _execute(self, job: Job, *, trigger: Trigger, slot: datetime | None) -> RunReport | None:
        async with advisory_lock(self._lock_url, job.name) as held:
            if not held:
                log.info("job_busy", job=job.name, slot=slot and slot.isoformat())
                return None
            await self._runs.close_interrupted(job.name)
            run_id = await self._runs.start(
                job.name, trigger=trigger, scheduled_for=slot, replica=self.replica
            )
            if run_id is None:
                # Another replica ran this slot and finished before we took the lock.
                return None
            result = await self._run_recorded(job, run_id)
        run = await self._runs.get(run_id)
        assert run is not None
        return RunReport(run=run, result=result)

    async def _run_recorded(self, job: Job, run_id: int) -> JobResult | None:
        log.info("job_started", job=job.name, run=run_id, replica=self.replica)
        try:
            async with asyncio.timeout(job.timeout_s):
                result = await job.run()
        except asyncio.CancelledError:
            await asyncio.shield(
                self._runs.finish(run_id, "failed", error="cancelled: the server was shutting down")
            )
            self._count(job.name, "failed")
            raise
        except Exception as exc:
            message = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError):
                message = f"timed out after {job.timeout_s:.0f} s"
            log.exception("job_failed", job=job.name, run=run_id, error=message)
            await self._runs.finish(run_id, "failed", error=f"{type(exc).__name__}: {message}"[:2000])
            self._count(job.name, "failed")
            return None
        outcome = "skipped" if result.skipped else "succeeded"
        await self._runs.finish(
            run_id,
            outcome,
            counts=result.counts,
            error=result.summary if result.skipped else None,
        )
        self._count(job.name, outcome)
        log.info("job_finished", job=job.name, run=run_id, outcome=outcome, **result.counts)
        return result

    def _count(self, job: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.job_runs.labels(job=job, outcome=outcome).inc()
