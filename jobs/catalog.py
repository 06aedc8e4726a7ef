"""The jobs Switchboard runs, built from settings and the services the entry point hands over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from core.errors import JobFailed
from core.ingest.pipeline import Embedder
from core.settings import Settings
from jobs.registry import Job, JobRegistry
from jobs.reingest import (
    CitedAnswerCache,
    Reingest,
    RemoteSources,
    SourceIngestor,
    remote_sources,
    target_sources,
)
from jobs.retention import Retention, RetentionPolicy
from jobs.scheduler import RunReport
from jobs.summaries import Summaries
from jobs.weekly_prompts import WeeklyPrompts
from jobs.writing import ChatModel
from store.prompts import PromptStore
from store.sources import KnowledgeSources
from store.summaries import SummaryStore

WEEKLY_PROMPTS = "weekly-prompts"
REINGEST = "reingest"
RETENTION = "retention"
SUMMARIES = "summaries"


class JobRunner(Protocol):
    """``jobs.scheduler.JobScheduler``: runs one job now, under its lock, recorded."""

    async def run_now(self, name: str) -> RunReport: ...


@dataclass(slots=True)
class JobServices:
    """What the jobs use; the entry point owns (and closes) each of them.

    ``model`` and ``embedder`` are None when not configured; the jobs then take their offline
    paths. ``answer_cache`` is None until an answer cache with ``invalidate_documents`` exists.
    """

    pool: AsyncConnectionPool
    prompts: PromptStore
    ingestor: SourceIngestor
    embedder: Embedder | None = None
    model: ChatModel | None = None
    answer_cache: CitedAnswerCache | None = None
    remote: RemoteSources | None = None


def standard_jobs(settings: Settings, services: JobServices) -> JobRegistry:
    """weekly-prompts, reingest, retention and summaries, on their configured schedules."""
    registry = JobRegistry()
    registry.add(
        Job(
            name=WEEKLY_PROMPTS,
            description="turn last week's questions into this week's suggested prompts",
            cron=settings.weekly_prompts_cron,
            setting="SWITCHBOARD_WEEKLY_PROMPTS_CRON",
            run=WeeklyPrompts(
                services.prompts,
                pool=services.pool,
                embedder=services.embedder,
                model=services.model,
                min_questions=settings.prompts_min_questions,
                embedding_similarity=settings.prompts_similarity,
            ),
        )
    )
    registry.add(
        Job(
            name=REINGEST,
            description="re-scan every source; re-embed what changed, drop what vanished",
            cron=settings.reingest_cron,
            setting="SWITCHBOARD_REINGEST_CRON",
            run=Reingest(
                services.ingestor,
                pool=services.pool,
                sources=KnowledgeSources(services.pool),
                configured=settings.reingest_sources,
                remote=services.remote or remote_sources(settings),
                targets=target_sources(settings),
                answer_cache=services.answer_cache,
                web_timeout=settings.web_timeout,
                allowed_hosts=settings.ingest_allowed_hosts,
            ),
        )
    )
    registry.add(
        Job(
            name=RETENTION,
            description="delete conversations, feedback and logs older than the policy",
            cron=settings.retention_cron,
            setting="SWITCHBOARD_RETENTION_CRON",
            run=Retention(services.pool, RetentionPolicy.from_settings(settings)),
        )
    )
    registry.add(
        Job(
            name=SUMMARIES,
            description="summarize (and embed) conversations that have gone quiet",
            cron=settings.summaries_cron,
            setting="SWITCHBOARD_SUMMARIES_CRON",
            run=Summaries(
                SummaryStore(services.pool),
                quiet=timedelta(minutes=settings.summary_quiet_minutes),
                model=services.model,
                embedder=services.embedder,
            ),
        )
    )
    return registry


class PromptRefresher:
    """``prompts refresh`` for admins: run weekly-prompts now (locked and recorded like any
    run) and return the prompts users will see."""

    def __init__(self, runner: JobRunner, prompts: PromptStore) -> None:
        self._runner = runner
        self._prompts = prompts

    async def __call__(self) -> list[str]:
        report = await self._runner.run_now(WEEKLY_PROMPTS)
        if report.result is None:
            raise JobFailed(f"weekly-prompts failed: {report.run.error or 'see the log'}")
        return await self._prompts.current()
