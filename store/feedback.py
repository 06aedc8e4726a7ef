"""👍/👎 on answers, from any platform: one vote per person per answer, changeable.

A 👎 may say what was wrong (``REASONS``) and carry a comment. Platforms send a vote first
(a click) and sometimes the reasons later (a form): ``record`` without reasons or comment keeps
the ones already given while the vote stays the same, and clears them when it changes, so a
👍 after a 👎 does not keep the 👎's complaint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

Rating = Literal[1, -1]
REASONS = ("inaccurate", "incomplete", "not_relevant", "missing_citations", "other")
COMMENT_CHARS = 3000


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One person's current vote on one answer."""

    message_id: int
    user_id: int
    rating: int
    reasons: list[str]
    comment: str | None
    updated_at: datetime


class FeedbackStore:
    """Votes in the ``feedback`` table, unique per (message, user)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def record(
        self,
        *,
        message_id: int,
        user_id: int,
        rating: Rating,
        reasons: Sequence[str] | None = None,
        comment: str | None = None,
    ) -> bool:
        """Store ``user_id``'s vote on answer ``message_id``; False when there is no such answer.

        ``reasons`` (from ``REASONS``; others are ignored) and ``comment`` replace earlier ones
        when given.
        """
        if rating not in (1, -1):
            raise ValueError(f"rating must be 1 or -1, not {rating!r}")
        explained = reasons is not None or comment is not None
        kept = [r for r in dict.fromkeys(reasons or ()) if r in REASONS]
        note = (comment or "").strip()[:COMMENT_CHARS] or None
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """INSERT INTO feedback (message_id, user_id, rating, reasons, comment)
                   SELECT m.id, %(user)s, %(rating)s, %(reasons)s, %(comment)s
                   FROM messages m WHERE m.id = %(message)s AND m.role = 'assistant'
                   ON CONFLICT (message_id, user_id) DO UPDATE SET
                       rating = EXCLUDED.rating,
                       reasons = CASE WHEN %(explained)s THEN EXCLUDED.reasons
                                      WHEN feedback.rating = EXCLUDED.rating THEN feedback.reasons
                                      ELSE '{}' END,
                       comment = CASE WHEN %(explained)s THEN EXCLUDED.comment
                                      WHEN feedback.rating = EXCLUDED.rating THEN feedback.comment
                                      END,
                       updated_at = now()
                   RETURNING id""",
                {
                    "message": message_id,
                    "user": user_id,
                    "rating": rating,
                    "reasons": kept,
                    "comment": note,
                    "explained": explained,
                },
            )
            return await cur.fetchone() is not None

    async def get(self, message_id: int, user_id: int) -> FeedbackRecord | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(FeedbackRecord))
            await cur.execute(
                """SELECT message_id, user_id, rating, reasons, comment, updated_at
                   FROM feedback WHERE message_id = %s AND user_id = %s""",
                (message_id, user_id),
            )
            return await cur.fetchone()
