"""Wires the pieces together from one Settings object: the only place that knows them all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from redis.asyncio import Redis

from core.assistant import Assistant, AssistantLimits
from core.commands import CommandHandler
from core.extractive import ExtractiveAnswerer
from core.ingest import Ingestor
from core.ingest.chunking import Chunker
from core.metrics import Metrics
from core.routing import LexicalRouter, load_domains
from core.settings import Settings
from store.conversations import PgConversationStore
from store.database import Database
from store.inbox import EventInbox
from store.knowledge import PgKnowledgeStore
from store.redis import connect_redis
from store.retrieval import FullTextRetriever


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
    redis: Redis | None = None

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
        assistant = Assistant(
            conversations=conversations,
            router=LexicalRouter(domains),
            retriever=FullTextRetriever(db.pool, candidates=settings.retrieval_candidates),
            generator=ExtractiveAnswerer(),
            domains=domains,
            limits=AssistantLimits(
                max_question_chars=settings.max_question_chars,
                history_turns=settings.history_turns,
                retrieval_k=settings.retrieval_k,
            ),
            metrics=metrics,
        )
        ingestor = Ingestor(
            knowledge,
            chunker=Chunker(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap),
        )
        return cls(
            settings=settings,
            db=db,
            metrics=metrics,
            knowledge=knowledge,
            conversations=conversations,
            assistant=assistant,
            ingestor=ingestor,
            commands=CommandHandler(),
            inbox=EventInbox(db.pool, redis=redis),
            redis=redis,
        )

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
