"""Suggested prompts, stored by week; what the Slack and Teams adapters show users.

A week is named by its Monday (UTC). ``PromptStore.current()`` is the one call the adapters need:
this week's prompts, topped up from the most recent earlier week, then from the configured
defaults, so a user always sees a full, distinct list even before the weekly job has had data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from store.audiences import PUBLIC_ANSWER

Origin = Literal["stored", "defaults"]


def week_of(moment: datetime | date) -> date:
    """The Monday that names the week ``moment`` falls in (UTC for datetimes)."""
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True)
class SuggestedPrompt:
    """One prompt as a user would type it, and the domain it came from when known."""

    text: str
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class ShownPrompt:
    """A prompt with where it came from: a stored week, or the configured defaults."""

    text: str
    domain: str | None
    origin: Origin
    week: date | None


@dataclass(frozen=True, slots=True)
class AskedQuestion:
    """A question someone asked, with who asked it and the domain its answer was routed to."""

    text: str
    user_id: int | None
    domain: str | None


@dataclass(frozen=True, slots=True)
class _Row:
    week: date
    text: str
    domain: str | None


def _key(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip("?.! ")


class PromptStore:
    """Suggested prompts in Postgres (``suggested_prompts``), with configured defaults behind."""

    def __init__(self, pool: AsyncConnectionPool, *, defaults: Sequence[str] = ()) -> None:
        self._pool = pool
        self._defaults = tuple(defaults)

    async def current(self, limit: int = 9) -> list[str]:
        """Up to ``limit`` distinct prompts to show now, best first. Never empty if defaults exist."""
        return [p.text for p in await self.shown(limit)]

    async def shown(self, limit: int = 9, *, today: date | None = None) -> list[ShownPrompt]:
        """Like ``current`` but says where each prompt came from (for admins and the CLI)."""
        week = week_of(today or datetime.now(UTC))
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(_Row))
            # This week's set, then the newest earlier set: two weeks at most, in display order.
            await cur.execute(
                """SELECT week, text, domain FROM suggested_prompts
                   WHERE week IN (
                       SELECT DISTINCT week FROM suggested_prompts
                       WHERE week <= %s ORDER BY week DESC LIMIT 2)
                   ORDER BY week DESC, position""",
                (week,),
            )
            rows = await cur.fetchall()
        picked: list[ShownPrompt] = []
        seen: set[str] = set()

        def take(prompt: ShownPrompt) -> None:
            key = _key(prompt.text)
            if key and key not in seen and len(picked) < limit:
                seen.add(key)
                picked.append(prompt)

        for row in rows:
            take(ShownPrompt(row.text, row.domain, "stored", row.week))
        for text in self._defaults:
            take(ShownPrompt(text, None, "defaults", None))
        return picked

    async def for_week(self, week: date) -> list[SuggestedPrompt]:
        """The prompts stored for exactly ``week`` (a Monday), in order; empty if none."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT text, domain FROM suggested_prompts WHERE week = %s ORDER BY position",
                (week_of(week),),
            )
            return [SuggestedPrompt(text, domain) for text, domain in await cur.fetchall()]

    async def latest_week(self) -> date | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT max(week) FROM suggested_prompts")
            row = await cur.fetchone()
        return row[0] if row else None

    async def replace_week(self, week: date, prompts: Sequence[SuggestedPrompt]) -> None:
        """Store ``prompts`` as the set for ``week``, replacing any earlier set atomically."""
        week = week_of(week)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM suggested_prompts WHERE week = %s", (week,))
            async with conn.cursor() as cur:
                await cur.executemany(
                    """INSERT INTO suggested_prompts (week, position, text, domain)
                       VALUES (%s, %s, %s, %s)""",
                    [(week, n, p.text, p.domain) for n, p in enumerate(prompts, start=1)],
                )

    async def questions(self, since: datetime, until: datetime, *, limit: int) -> list[AskedQuestion]:
        """Up to ``limit`` user questions asked in [since, until), a repeatable sample when
        there are more; each with the primary domain of the answer that followed it. Only
        questions answered from public documents: a prompt is shown to everyone."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(AskedQuestion))
            await cur.execute(
                """SELECT m.text, m.user_id,
                          (SELECT a.route -> 'domains' ->> 0 FROM messages a
                           WHERE a.conversation_id = m.conversation_id AND a.id > m.id
                             AND a.role = 'assistant'
                           ORDER BY a.id LIMIT 1) AS domain
                   FROM messages m
                   WHERE m.role = 'user' AND m.created_at >= %s AND m.created_at < %s"""
                + PUBLIC_ANSWER
                + """
                   ORDER BY hashtext(m.id::text), m.id
                   LIMIT %s""",
                (since, until, limit),
            )
            return await cur.fetchall()
