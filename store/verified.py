"""Verified answers in Postgres (``core.verified.VerifiedStore``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from core.verified import KEEP, Author, Keep, VerifiedAnswer

# The vector stays in Postgres: pgvector compares it with a question's (``similarities``).
_COLUMNS = """v.id, v.question, v.answer, v.source_url, v.domain, v.author_name, v.created_at,
              v.updated_at, v.embedding_model, v.audience"""


def _literal(vector: Sequence[float] | None) -> str | None:
    return None if vector is None else "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


class PgVerifiedAnswers:
    """The ``verified_answers`` table; removing one sets ``removed_at`` and keeps the row."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def add(
        self, question: str, answer: str, *, source_url: str | None, domain: str | None,
        author: Author, embedding: Sequence[float] | None, embedding_model: str | None,
        audience: Sequence[str] | None = None,
    ) -> VerifiedAnswer:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(VerifiedAnswer))
            await cur.execute(
                f"""INSERT INTO verified_answers AS v (question, answer, source_url, domain,
                        author_id, author_name, embedding, embedding_model, audience)
                    VALUES (%s, %s, %s, %s, %s, %s, %s::vector, %s, %s)
                    RETURNING {_COLUMNS}""",
                (question, answer, source_url, domain, author.user_id, author.name,
                 _literal(embedding), embedding_model,
                 list(audience) if audience is not None else None),
            )
            row = await cur.fetchone()
        assert row is not None
        return row

    async def edit(
        self, answer_id: int, answer: str, *, source_url: str | None, author: Author,
        audience: Sequence[str] | None | Keep = KEEP,
    ) -> VerifiedAnswer | None:
        keep = isinstance(audience, Keep)
        new_audience = None if isinstance(audience, Keep) or audience is None else list(audience)
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(VerifiedAnswer))
            await cur.execute(
                f"""UPDATE verified_answers AS v
                    SET answer = %s, source_url = coalesce(%s, v.source_url), author_id = %s,
                        author_name = %s, updated_at = now(),
                        audience = CASE WHEN %s THEN v.audience ELSE %s::text[] END
                    WHERE v.id = %s AND v.removed_at IS NULL
                    RETURNING {_COLUMNS}""",
                (answer, source_url, author.user_id, author.name, keep, new_audience,
                 answer_id),
            )
            return await cur.fetchone()

    async def remove(self, answer_id: int) -> VerifiedAnswer | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(VerifiedAnswer))
            await cur.execute(
                f"""UPDATE verified_answers AS v SET removed_at = now(), updated_at = now()
                    WHERE v.id = %s AND v.removed_at IS NULL
                    RETURNING {_COLUMNS}""",
                (answer_id,),
            )
            return await cur.fetchone()

    async def live(self) -> list[VerifiedAnswer]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(VerifiedAnswer))
            await cur.execute(
                f"""SELECT {_COLUMNS},
                           (SELECT count(*) FROM messages m
                            WHERE m.verified_answer_id = v.id)::integer AS uses
                    FROM verified_answers v WHERE v.removed_at IS NULL ORDER BY v.id"""
            )
            return await cur.fetchall()

    async def version(self) -> tuple[int, datetime | None]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT count(*) FILTER (WHERE removed_at IS NULL), max(updated_at)
                   FROM verified_answers"""
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row[0]), row[1]

    async def set_embedding(self, answer_id: int, vector: Sequence[float], model: str) -> None:
        # updated_at stays: a new vector changes neither the answer nor its date.
        async with self._pool.connection() as conn:
            await conn.execute(
                """UPDATE verified_answers SET embedding = %s::vector, embedding_model = %s
                   WHERE id = %s""",
                (_literal(vector), model, answer_id),
            )

    async def similarities(
        self, vector: Sequence[float], answer_ids: Sequence[int], model: str
    ) -> dict[int, float]:
        # In C inside Postgres: a few hundred cosines in Python would hold the event loop.
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT id, 1 - (embedding <=> %s::vector) FROM verified_answers
                   WHERE id = ANY(%s) AND embedding_model = %s AND embedding IS NOT NULL""",
                (_literal(vector), list(answer_ids), model),
            )
            return {int(i): float(score) for i, score in await cur.fetchall()}

    async def record_use(self, message_id: int, answer_id: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE messages SET verified_answer_id = %s WHERE id = %s",
                (answer_id, message_id),
            )
