"""Jobs and their runs as plain text, for ``switchboard jobs list`` and ``jobs run``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from core.errors import ConfigurationError
from jobs.scheduler import JobScheduler, RunReport
from store.jobs import JobRun


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def describe_run(run: JobRun) -> str:
    """One line: when, outcome, how long, and the counts or the error."""
    took = f" in {run.seconds:.1f} s" if run.seconds is not None else ""
    line = f"{_when(run.started_at)} {run.outcome}{took}"
    if run.error:
        line += f" — {run.error.splitlines()[0][:160]}"
    elif run.counts:
        line += " — " + " ".join(f"{k}={v}" for k, v in run.counts.items())
    return line


def job_table(
    scheduler: JobScheduler, last: Mapping[str, JobRun], now: datetime | None = None
) -> str:
    """Each job: name, schedule, next run, last run."""
    now = now or datetime.now(UTC)
    rows = [("JOB", "SCHEDULE", "NEXT RUN", "LAST RUN")]
    for job in scheduler.registry:
        try:
            upcoming = _when(scheduler.next_run_time(job.name, now))
        except ConfigurationError as exc:
            upcoming = f"invalid: {exc}"
        run = last.get(job.name)
        rows.append((job.name, job.cron, upcoming, describe_run(run) if run else "never"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in rows
    )


def run_report(report: RunReport) -> str:
    """What a run did: its outcome, its summary line, and its details (the prompts stored)."""
    run = report.run
    took = f" in {run.seconds:.1f} s" if run.seconds is not None else ""
    lines = [f"{run.job} {run.outcome}{took} (run {run.id})"]
    if report.result is not None:
        lines.append(report.result.summary)
        lines.extend(f"  {n}. {text}" for n, text in enumerate(report.result.details, start=1))
    elif run.error:
        lines.append(f"error: {run.error}")
    return "\n".join(lines)
