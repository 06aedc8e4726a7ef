"""What a job is, what it reports, and the jobs Switchboard runs, by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field

from core.errors import ConfigurationError


@dataclass(slots=True)
class JobResult:
    """What one run did: counts for ``job_runs``, a line and details for people.

    ``skipped`` says the job had nothing it should do (too little data, nothing configured); the
    run is recorded as skipped with ``summary`` as the reason.
    """

    summary: str
    counts: dict[str, int] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    skipped: bool = False


JobFunction = Callable[[], Awaitable[JobResult]]


@dataclass(frozen=True, slots=True)
class Job:
    """A named unit of scheduled work: ``run`` is called with no arguments at each slot."""

    name: str
    description: str
    cron: str
    setting: str  # the environment variable that sets ``cron``, for error messages
    run: JobFunction
    # A run taking longer is cancelled and recorded as failed, so a hung run cannot hold the
    # job's lock (and so skip every later slot) for ever.
    timeout_s: float = 3600.0


class JobRegistry:
    """The jobs by name, in the order they were added."""

    def __init__(self, jobs: Mapping[str, Job] | None = None) -> None:
        self._jobs: dict[str, Job] = dict(jobs or {})

    def add(self, job: Job) -> None:
        self._jobs[job.name] = job

    def get(self, name: str) -> Job:
        try:
            return self._jobs[name]
        except KeyError:
            known = ", ".join(self._jobs) or "none"
            raise ConfigurationError(f"There is no job named {name!r} (jobs: {known}).") from None

    def names(self) -> list[str]:
        return list(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self._jobs.values())

    def __len__(self) -> int:
        return len(self._jobs)
