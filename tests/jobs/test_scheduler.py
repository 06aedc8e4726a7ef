"""The scheduler against real Postgres: one run per slot across replicas, failures recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bots.runtime import Runtime
from core.errors import ConfigurationError, JobBusy
from jobs.cron import cron_trigger
from jobs.registry import Job, JobRegistry, JobResult
from jobs.scheduler import JobScheduler
from store.jobs import JobRunStore, advisory_lock

EVERY_SECOND = "* * * * * *"


def scheduler(runtime: Runtime, registry: JobRegistry) -> JobScheduler:
    return JobScheduler(registry, runs=JobRunStore(runtime.db.pool), lock_url=runtime.db.url)


async def runs_of(runtime: Runtime, job: str) -> list[tuple[str, datetime | None, str | None]]:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT outcome, scheduled_for, error FROM job_runs WHERE job = %s ORDER BY id", (job,)
        )
        return list(await cur.fetchall())


async def wait_for(predicate, *, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.1)


async def test_two_schedulers_started_together_run_each_slot_of_each_job_once(runtime: Runtime):
    executions: dict[str, list[str]] = {"alpha": [], "beta": []}

    def job(name: str) -> Job:
        async def run() -> JobResult:
            executions[name].append(datetime.now(UTC).isoformat())
            # alpha still runs when the other replica fires the same slot (the lock turns it
            # away); beta is done before (the slot's run record turns it away).
            await asyncio.sleep(0.3 if name == "alpha" else 0)
            return JobResult(summary="ok", counts={"n": 1})

        return Job(name=name, description=name, cron=EVERY_SECOND, setting="TEST", run=run)

    registry = JobRegistry({name: job(name) for name in executions})
    replicas = [scheduler(runtime, registry), scheduler(runtime, registry)]
    for replica in replicas:
        replica.start()

    async def three_slots_each() -> bool:
        for name in executions:
            if len([r for r in await runs_of(runtime, name) if r[0] == "succeeded"]) < 3:
                return False
        return True

    try:
        await wait_for(three_slots_each)
    finally:
        for replica in replicas:
            await replica.aclose()

    for name, ran in executions.items():
        rows = await runs_of(runtime, name)
        slots = [slot for _, slot, _ in rows]
        assert len(slots) == len(set(slots)), rows  # no slot recorded twice
        assert len(ran) == len(rows), (name, ran, rows)  # and no slot run twice
        assert all(slot is not None for slot in slots)
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT count(DISTINCT replica) FROM job_runs")
        assert (await cur.fetchone())[0] >= 1


async def test_a_failing_job_is_recorded_as_failed_and_the_next_slot_succeeds(runtime: Runtime):
    attempts = []

    async def flaky() -> JobResult:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("source server said 503")
        return JobResult(summary="fine", counts={"done": 1})

    registry = JobRegistry({"flaky": Job("flaky", "fails once", EVERY_SECOND, "TEST", flaky)})
    replica = scheduler(runtime, registry)
    replica.start()

    async def failed_then_succeeded() -> bool:
        outcomes = [r[0] for r in await runs_of(runtime, "flaky")]
        return outcomes[:1] == ["failed"] and "succeeded" in outcomes

    try:
        await wait_for(failed_then_succeeded)
    finally:
        await replica.aclose()
    first, second = (await runs_of(runtime, "flaky"))[:2]
    assert first[0] == "failed" and "RuntimeError: source server said 503" in (first[2] or "")
    assert second[0] == "succeeded" and second[2] is None


async def test_a_failing_manual_run_is_recorded_and_the_next_one_succeeds(runtime: Runtime):
    calls = []

    async def flaky() -> JobResult:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("bad input")
        return JobResult(summary="fine")

    replica = scheduler(runtime, JobRegistry({"flaky": Job("flaky", "", "0 3 * * *", "T", flaky)}))
    failed = await replica.run_now("flaky")
    assert failed.result is None and failed.run.outcome == "failed"
    assert failed.run.error == "ValueError: bad input" and failed.run.finished_at is not None
    succeeded = await replica.run_now("flaky")
    assert succeeded.run.outcome == "succeeded" and succeeded.result is not None
    assert [r[0] for r in await runs_of(runtime, "flaky")] == ["failed", "succeeded"]


async def test_a_job_already_running_elsewhere_is_not_run_again(runtime: Runtime):
    ran = []

    async def work() -> JobResult:
        ran.append(1)
        return JobResult(summary="ok")

    replica = scheduler(runtime, JobRegistry({"solo": Job("solo", "", "0 3 * * *", "T", work)}))
    async with advisory_lock(runtime.db.url, "solo") as held:
        assert held
        with pytest.raises(JobBusy):
            await replica.run_now("solo")
    assert ran == [] and await runs_of(runtime, "solo") == []
    assert (await replica.run_now("solo")).run.outcome == "succeeded"


async def test_a_run_left_running_by_a_dead_process_is_closed_as_failed(runtime: Runtime):
    async def work() -> JobResult:
        return JobResult(summary="ok")

    async with runtime.db.pool.connection() as conn:
        await conn.execute("INSERT INTO job_runs (job, replica) VALUES ('solo', 'gone:1')")
    replica = scheduler(runtime, JobRegistry({"solo": Job("solo", "", "0 3 * * *", "T", work)}))
    await replica.run_now("solo")
    outcomes = await runs_of(runtime, "solo")
    assert [r[0] for r in outcomes] == ["failed", "succeeded"]
    assert "interrupted" in (outcomes[0][2] or "")


async def test_a_job_that_hangs_is_cancelled_at_its_timeout_and_recorded(runtime: Runtime):
    async def hang() -> JobResult:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    job = Job("hang", "", "0 3 * * *", "T", hang, timeout_s=0.2)
    report = await scheduler(runtime, JobRegistry({"hang": job})).run_now("hang")
    assert report.run.outcome == "failed" and "timed out" in (report.run.error or "")


def test_cron_weekdays_count_from_sunday_as_cron_does():
    wednesday = datetime(2025, 6, 11, 12, 0, tzinfo=UTC)
    for expr in ("0 2 * * 0", "0 2 * * 7", "0 2 * * sun", "0 2 * * SUN"):
        fire = cron_trigger(expr).get_next_fire_time(None, wednesday)
        assert fire is not None and fire.strftime("%a %H:%M") == "Sun 02:00", expr
    weekdays = cron_trigger("0 9 * * 1-5")
    friday = datetime(2025, 6, 13, 10, 0, tzinfo=UTC)
    fire = weekdays.get_next_fire_time(None, friday)
    assert fire is not None and fire.strftime("%a %d") == "Mon 16"


def test_an_invalid_schedule_names_its_setting():
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_REINGEST_CRON"):
        cron_trigger("every hour", setting="SWITCHBOARD_REINGEST_CRON")
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_REINGEST_CRON"):
        cron_trigger("0 * * * 9", setting="SWITCHBOARD_REINGEST_CRON")
