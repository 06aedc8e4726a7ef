"""Conversation summaries (``conversation_summaries``): which need writing, writing them, and
finding a person's conversations by meaning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

Method = Literal["model", "extractive"]


def _vector(values: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in values) + "]"


@dataclass(frozen=True, slots=True)
class QuietConversation:
    """A conversation with messages newer than its summary, quiet since ``last_at``."""

    id: int
    title: str
    last_message_id: int
    last_at: datetime


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class SummaryMatch:
    conversation_id: int
    summary: str
    similarity: float


class SummaryStore:
    """Summaries of quiet conversations, with an embedding when a model is configured."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def quiet(
        self, *, quiet_since: datetime, active_after: datetime, limit: int
    ) -> list[QuietConversation]:
        """Conversations last active in (active_after, quiet_since] whose summary is missing or
        older than their last message; most recently active first."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(QuietConversation))
            await cur.execute(
                """SELECT c.id, c.title, last.id AS last_message_id, last.created_at AS last_at
                   FROM conversations c
                   JOIN LATERAL (
                       SELECT m.id, m.created_at FROM messages m
                       WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1) last ON true
                   LEFT JOIN conversation_summaries s ON s.conversation_id = c.id
                   WHERE c.updated_at > %(after)s AND c.updated_at <= %(quiet)s
                     AND last.created_at <= %(quiet)s
                     AND (s.conversation_id IS NULL OR s.last_message_id < last.id)
                   ORDER BY c.updated_at DESC
                   LIMIT %(limit)s""",
                {"after": active_after, "quiet": quiet_since, "limit": limit},
            )
            return await cur.fetchall()

    async def transcript(self, conversation_id: int, *, limit: int = 40) -> list[TranscriptLine]:
        """The conversation's first ``limit`` messages, in order."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(TranscriptLine))
            await cur.execute(
                """SELECT role, text FROM messages WHERE conversation_id = %s
                   ORDER BY id LIMIT %s""",
                (conversation_id, limit),
            )
            return await cur.fetchall()

    async def save(
        self,
        conversation_id: int,
        *,
        summary: str,
        method: Method,
        last_message_id: int,
        embedding: Sequence[float] | None = None,
        embedding_model: str | None = None,
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO conversation_summaries
                       (conversation_id, summary, method, last_message_id, embedding,
                        embedding_model)
                   VALUES (%s, %s, %s, %s, %s::vector, %s)
                   ON CONFLICT (conversation_id) DO UPDATE SET
                       summary = EXCLUDED.summary, method = EXCLUDED.method,
                       last_message_id = EXCLUDED.last_message_id,
                       embedding = EXCLUDED.embedding, embedding_model = EXCLUDED.embedding_model,
                       updated_at = now()""",
                (
                    conversation_id,
                    summary,
                    method,
                    last_message_id,
                    _vector(embedding) if embedding is not None else None,
                    embedding_model if embedding is not None else None,
                ),
            )

    async def get(self, conversation_id: int) -> str | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT summary FROM conversation_summaries WHERE conversation_id = %s",
                (conversation_id,),
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def nearest(
        self, user_id: int, vector: Sequence[float], *, model: str, limit: int = 10
    ) -> list[SummaryMatch]:
        """``user_id``'s conversations whose summary is nearest ``vector`` (same model only)."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(SummaryMatch))
            await cur.execute(
                """SELECT s.conversation_id, s.summary, 1 - (s.embedding <=> %(v)s::vector) AS similarity
                   FROM conversation_summaries s
                   JOIN conversations c ON c.id = s.conversation_id
                   WHERE c.user_id = %(user)s AND s.embedding_model = %(model)s
                     AND vector_dims(s.embedding) = vector_dims(%(v)s::vector)
                   ORDER BY s.embedding <=> %(v)s::vector
                   LIMIT %(limit)s""",
                {"v": _vector(vector), "user": user_id, "model": model, "limit": limit},
            )
            return await cur.fetchall()
