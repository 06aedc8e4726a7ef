"""Wires the pieces together from one Settings object: the only place that knows them all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import structlog
from redis.asyncio import Redis

from bots.people import build_people
from core.assistant import Assistant, AssistantLimits
from core.commands import CommandHandler, CommandOptions, CommandServices
from core.commands.ingest import web_page_ingest
from core.commands.privacy import CacheForgetting
from core.coverage import DeclinePolicy
from core.declining import HelpContacts
from core.embeddings import OpenAIEmbedder
from core.errors import ModelError
from core.extractive import ExtractiveAnswerer
from core.follow_up import FollowUpRule
from core.grounding import GroundingPolicy
from core.identity.people import People
from core.ingest import Ingestor
from core.ingest.chunking import Chunker
from core.lifecycle import QuestionLifecycle
from core.llm.cache import AnswerCache, MemoryAnswerCache
from core.llm.layer import ModelLayer
from core.metrics import Metrics
from core.rerank import HttpReranker
from core.routing import LexicalRouter, load_domains
from core.settings import Settings
from core.verified import Thresholds, VerifiedAnswers
from jobs.catalog import JobServices, PromptRefresher, standard_jobs
from jobs.reingest import WholeCacheInvalidation
from jobs.scheduler import JobScheduler
from store.admin import PgAdminStore, PgAuditLog
from store.answer_cache import RedisAnswerCache
from store.audiences import PgAudiences
from store.conversations import PgConversationStore
from store.coverage import PgCoverageJudge
from store.daily_report import PgDailyReport
from store.database import Database
from store.feedback import FeedbackStore
from store.history import PgHistoryStore
from store.inbox import EventInbox
from store.jobs import JobRunStore
from store.knowledge import PgKnowledgeStore
from store.limits import PgLimitLog, question_gate
from store.privacy import PgPrivacyStore
from store.prompts import PromptStore
from store.redis import connect_redis
from store.retrieval import HybridRetriever, HybridWeights
from store.unanswered import PgUnanswered
from store.verified import PgVerifiedAnswers

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CoreServices:
    """The core's stores a platform reaches people's data through: feedback on answers,
    conversation history, suggested prompts, and forget-me / export (each platform registers
    what its own tables hold about a person)."""

    feedback: FeedbackStore
    history: PgHistoryStore
    prompts: PromptStore
    privacy: PgPrivacyStore


@dataclass(slots=True)
class Runtime:
    """The assembled application. ``async with await Runtime.start(settings) as rt: ...``"""

    settings: Settings
    db: Database
    metrics: Metrics
    knowledge: PgKnowledgeStore
    conversations: PgConversationStore
    assistant: Assistant
    ingestor: Ingestor
    commands: CommandHandler
    inbox: EventInbox
    # A question's life on every platform: accept, answer, done / retry / failed.
    lifecycle: QuestionLifecycle
    services: CoreServices
    # Who is asking (each platform registers its resolver) and who may read what.
    people: People
    audiences: PgAudiences
    redis: Redis | None = None
    embedder: OpenAIEmbedder | None = None
    reranker: HttpReranker | None = None
    model: ModelLayer | None = None
    # Call ``await answer_cache.invalidate()`` after an ingest that changed anything.
    answer_cache: AnswerCache | None = None
    # The scheduled jobs; `switchboard serve` starts them, the CLI runs one with run_now().
    jobs: JobScheduler | None = None
    # Admins' verified answers (the assistant and `answers` share this one copy).
    verified: VerifiedAnswers | None = None

    @classmethod
    async def start(cls, settings: Settings, *, metrics: Metrics | None = None) -> Self:
        db = await Database.connect(settings)
        try:
            redis = await connect_redis(
                settings.redis_url.get_secret_value() if settings.redis_url else None
            )
        except Exception:
            await db.aclose()
            raise
        metrics = metrics or Metrics()
        domains = load_domains(settings.domains_file)
        knowledge = PgKnowledgeStore(db.pool)
        conversations = PgConversationStore(db.pool)
        embedder = OpenAIEmbedder.from_settings(settings) if settings.embeddings_configured else None
        # Without an embedder the same retriever ranks by full text alone (IDF-weighted).
        # Off unless SWITCHBOARD_RERANK_URL names a /rerank endpoint (core/rerank.py).
        reranker = HttpReranker.from_settings(settings)
        retriever = HybridRetriever(
            db.pool,
            embedder=embedder,
            candidates=settings.retrieval_candidates,
            weights=HybridWeights(
                text=settings.retrieval_text_weight,
                vector=settings.retrieval_vector_weight,
                rrf_k=settings.retrieval_rrf_k,
            ),
            per_document=settings.retrieval_per_document,
            ef_search=settings.retrieval_ef_search,
            exact_factor=settings.retrieval_exact_factor,
            distinct_first=settings.retrieval_distinct_first,
            repeat_decay=settings.retrieval_repeat_decay,
            reranker=reranker,
            rerank_candidates=settings.rerank_candidates,
        )
        # The model generator and LLM router only when a chat model is configured; otherwise
        # the offline lexical router and extractive answerer. Moderation's local rules always.
        model = await ModelLayer.start(settings, domains)
        answer_cache: AnswerCache | None = None
        if model.generator is not None and settings.answer_cache_ttl > 0:
            answer_cache = (
                RedisAnswerCache(redis, ttl=settings.answer_cache_ttl)
                if redis is not None
                else MemoryAnswerCache(ttl=settings.answer_cache_ttl)
            )
        verified = VerifiedAnswers(
            PgVerifiedAnswers(db.pool),
            embedder=embedder,
            # Files each answer under a domain without a model call.
            router=LexicalRouter(domains),
            thresholds=Thresholds(
                embedding=settings.verified_similarity, text=settings.verified_text_similarity
            ),
        )
        people = build_people(settings, redis)
        gate = question_gate(settings, db.pool, redis)
        audiences = PgAudiences(db.pool)
        assistant = Assistant(
            conversations=conversations,
            people=people,
            restricted=audiences,
            router=model.router or LexicalRouter(domains),
            retriever=retriever,
            generator=model.generator or ExtractiveAnswerer(),
            fallback=ExtractiveAnswerer() if model.generator is not None else None,
            moderator=model.moderator,
            cache=answer_cache,
            gate=gate,
            verified=verified,
            domains=domains,
            limits=AssistantLimits(
                max_question_chars=settings.max_question_chars,
                history_turns=settings.history_turns,
                retrieval_k=settings.retrieval_k,
            ),
            metrics=metrics,
            grounding=GroundingPolicy(
                strict_figures=settings.strict_figures, hold_chars=settings.grounding_hold_chars
            ),
            reask=settings.grounding_reask,
            coverage=PgCoverageJudge(db.pool) if settings.decline_min_coverage > 0 else None,
            decline=DeclinePolicy(
                min_share=settings.decline_min_coverage, by_meaning=embedder is not None
            ),
            contacts=HelpContacts(domains, settings.help_contacts, settings.help_contact),
            follow_up=FollowUpRule(quiet_s=settings.follow_up_quiet_s),
        )
        ingestor = Ingestor(
            knowledge,
            chunker=Chunker(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap),
            embedder=embedder,
            source_url_base=settings.source_url_base,
        )
        if embedder is not None:
            # Detects a changed embedding model now: its old vectors are dropped at once (never
            # mixed with new ones) and Ingestor.backfill() re-embeds the chunks.
            try:
                await ingestor.prepare_embeddings()
            except ModelError as exc:
                log.warning("embeddings_unavailable", error=str(exc))
        prompts = PromptStore(db.pool, defaults=settings.default_prompts)
        jobs = JobScheduler(
            standard_jobs(
                settings,
                JobServices(
                    pool=db.pool,
                    prompts=prompts,
                    # Its own ingestor: an admin's ingest may run while reingest does.
                    ingestor=Ingestor(
                        knowledge,
                        chunker=Chunker(
                            chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap
                        ),
                        embedder=embedder,
                        source_url_base=settings.source_url_base,
                    ),
                    embedder=embedder,
                    model=model.client,
                    answer_cache=(
                        WholeCacheInvalidation(answer_cache) if answer_cache is not None else None
                    ),
                ),
            ),
            runs=JobRunStore(db.pool),
            lock_url=db.url,
            timezone=settings.jobs_timezone,
            metrics=metrics,
        )
        inbox = EventInbox(
            db.pool,
            metrics=metrics,
            lease_s=settings.inbox_lease_s,
            max_attempts=settings.inbox_max_attempts,
            retry_delay_s=settings.inbox_retry_delay_s,
        )
        history = PgHistoryStore(db.pool)
        privacy = PgPrivacyStore(db.pool, caches=(people, gate))
        lifecycle = QuestionLifecycle(
            inbox, assistant, max_answers=settings.max_answers,
            lag_target_s=settings.answer_lag_ms / 1000,
        )
        metrics.watch_answers(lifecycle.slots)
        return cls(
            settings=settings,
            db=db,
            metrics=metrics,
            knowledge=knowledge,
            conversations=conversations,
            assistant=assistant,
            ingestor=ingestor,
            commands=CommandHandler(
                CommandServices(
                    users=conversations,
                    history=history,
                    admin=PgAdminStore(db.pool),
                    audit=PgAuditLog(db.pool),
                    privacy=privacy,
                    ingestor=ingestor,
                    url_ingest=web_page_ingest(
                        ingestor,
                        timeout=settings.web_timeout,
                        allowed_hosts=settings.ingest_allowed_hosts,
                    ),
                    prompts=prompts,
                    refresh_prompts=PromptRefresher(jobs, prompts),
                    embedder=embedder,
                    answer_cache=(
                        CacheForgetting(answer_cache) if answer_cache is not None else None
                    ),
                    limits=PgLimitLog(db.pool),
                    verified=verified,
                    unanswered=PgUnanswered(db.pool, embedder=embedder),
                    daily_report=PgDailyReport(db.pool),
                    audiences=audiences,
                    people=people,
                ),
                options=CommandOptions.from_settings(settings),
            ),
            inbox=inbox,
            lifecycle=lifecycle,
            services=CoreServices(FeedbackStore(db.pool), history, prompts, privacy),
            people=people,
            audiences=audiences,
            redis=redis,
            embedder=embedder,
            reranker=reranker,
            model=model,
            answer_cache=answer_cache,
            jobs=jobs,
            verified=verified,
        )

    async def aclose(self) -> None:
        if self.jobs is not None:
            await self.jobs.aclose()  # first: running jobs still need the pool to record
        await self.people.aclose()
        if self.model is not None:
            await self.model.aclose()
        if self.embedder is not None:
            await self.embedder.aclose()
        if self.reranker is not None:
            await self.reranker.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
