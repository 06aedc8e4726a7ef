"""A person's past conversations: listed newest first, searched by words and by meaning.

Privacy is decided here, in SQL, for every query: a person sees the conversations they asked
something in; a private one (DM, assistant pane) anywhere, a shared one (channel, group chat)
only when asking from that same channel. Searches look only at the person's own questions and
the answers they got, never at what someone else asked in a shared thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from core.commands.stores import HistoryScope, PastConversation

PREVIEW_CHARS = 120
_MARKUP = re.compile(r"\[\d+\]|[*_`~#>|]+")

# Conversations the person took part in and may see from where they are asking: their
# private ones on any platform (one person across platforms, store/people.py), a shared one
# only from its own channel.
_VISIBLE = """
    visible AS (
        SELECT c.* FROM conversations c
        WHERE c.id IN (SELECT conversation_id FROM messages WHERE user_id = %(user)s)
          AND (c.kind IN ('dm', 'assistant')
               OR (c.platform = %(platform)s AND c.workspace_id = %(workspace)s
                   AND c.channel_id = %(channel)s))
    )"""

# Who a message belongs to: the asker of a question, and for an answer the asker of the
# question it answers (the latest question before it in the same conversation).
_OWNER = """
    CASE WHEN m.role = 'user' THEN m.user_id ELSE (
        SELECT q.user_id FROM messages q
        WHERE q.conversation_id = m.conversation_id AND q.role = 'user' AND q.id < m.id
        ORDER BY q.id DESC LIMIT 1) END"""

# Title, one-line preview source and last activity of the conversations in ``page``.
_DESCRIBE = """
    SELECT c.id, c.platform, c.workspace_id, c.channel_id, c.thread_id, c.kind,
           coalesce(nullif(c.title, ''), (
               SELECT left(q.text, 200) FROM messages q
               WHERE q.conversation_id = c.id AND q.role = 'user' ORDER BY q.id LIMIT 1), '')
               AS title,
           coalesce((
               SELECT left(a.text, 600) FROM messages a
               WHERE a.conversation_id = c.id AND a.role = 'assistant' AND a.status IN ('complete', 'verified')
               ORDER BY a.id DESC LIMIT 1), '') AS preview,
           page.last_at, page.snippet, page.rank
    FROM page JOIN conversations c ON c.id = page.id"""


def one_line(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The first line of ``text`` that has words, without Markdown or ``[n]`` marks."""
    for line in text.splitlines():
        flat = " ".join(_MARKUP.sub(" ", line).split())
        if flat:
            return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
    return ""


def _params(scope: HistoryScope, **more: Any) -> dict[str, Any]:
    return {
        "user": scope.user_id,
        "platform": scope.platform,
        "workspace": scope.workspace_id,
        # No channel: shared conversations are not shown at all.
        "channel": scope.channel_id,
        **more,
    }


def _rows(raw: list[dict[str, Any]]) -> list[PastConversation]:
    return [
        PastConversation(
            id=r["id"],
            platform=r["platform"],
            workspace_id=r["workspace_id"],
            channel_id=r["channel_id"],
            thread_id=r["thread_id"],
            kind=r["kind"],
            title=one_line(r["title"], 80),
            preview=one_line(r["preview"]),
            last_at=r["last_at"],
            snippet=" ".join(r["snippet"].split()) if r["snippet"] else None,
            rank=r["rank"],
        )
        for r in raw
    ]


class PgHistoryStore:
    """``core.commands.stores.HistoryStore`` over the conversations and messages tables."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _fetch(self, query: str, params: dict[str, Any]) -> list[PastConversation]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query.encode(), params)
            return _rows(await cur.fetchall())

    async def recent(
        self, scope: HistoryScope, *, before: tuple[datetime, int] | None, limit: int
    ) -> list[PastConversation]:
        """Newest activity first; ``before`` is the (last_at, id) of the previous page's end."""
        before_at, before_id = before if before else (None, None)
        query = f"""
            WITH {_VISIBLE},
            page AS (
                SELECT v.id, max(m.created_at) AS last_at,
                       NULL::text AS snippet, NULL::real AS rank
                FROM visible v JOIN messages m ON m.conversation_id = v.id
                GROUP BY v.id
                HAVING %(before_at)s::timestamptz IS NULL
                    OR (max(m.created_at), v.id)
                       < (%(before_at)s::timestamptz, %(before_id)s::bigint)
                ORDER BY last_at DESC, v.id DESC
                LIMIT %(limit)s)
            {_DESCRIBE}
            ORDER BY page.last_at DESC, page.id DESC"""
        return await self._fetch(
            query, _params(scope, before_at=before_at, before_id=before_id, limit=limit)
        )

    async def search_text(
        self, scope: HistoryScope, query: str, *, limit: int, offset: int = 0
    ) -> list[PastConversation]:
        """Best-matching conversations first, each with its best message's matching words."""
        sql = f"""
            WITH {_VISIBLE},
            q AS (SELECT websearch_to_tsquery('english', %(query)s) AS query),
            hits AS (
                SELECT DISTINCT ON (m.conversation_id)
                       m.conversation_id AS id, m.id AS message_id, m.text,
                       ts_rank_cd(m.tsv, q.query) AS rank
                FROM visible v JOIN messages m ON m.conversation_id = v.id CROSS JOIN q
                WHERE m.tsv @@ q.query AND {_OWNER} = %(user)s
                ORDER BY m.conversation_id, rank DESC, m.id DESC),
            ranked AS (
                SELECT hits.*, (SELECT max(x.created_at) FROM messages x
                                WHERE x.conversation_id = hits.id) AS last_at
                FROM hits
                ORDER BY rank DESC, last_at DESC, id DESC
                LIMIT %(limit)s OFFSET %(offset)s),
            -- ts_headline is costly: run it for this page's rows only.
            page AS (
                SELECT ranked.id, ranked.last_at, ranked.rank::real AS rank,
                       ts_headline('english', ranked.text, q.query,
                                   'StartSel=**, StopSel=**, MaxWords=24, MinWords=8, '
                                   'MaxFragments=2, FragmentDelimiter=" … "') AS snippet
                FROM ranked CROSS JOIN q)
            {_DESCRIBE}
            ORDER BY page.rank DESC, page.last_at DESC, page.id DESC"""
        return await self._fetch(sql, _params(scope, query=query, limit=limit, offset=offset))

    async def search_meaning(
        self, scope: HistoryScope, vector: Sequence[float], *, model: str, limit: int
    ) -> list[PastConversation]:
        """Nearest conversation summaries (cosine), only those embedded by ``model``."""
        literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
        sql = f"""
            WITH {_VISIBLE},
            near AS (
                SELECT s.conversation_id AS id, s.summary,
                       (s.embedding <=> %(vector)s::vector) AS distance
                FROM conversation_summaries s JOIN visible v ON v.id = s.conversation_id
                WHERE s.embedding IS NOT NULL AND s.embedding_model = %(model)s
                  AND vector_dims(s.embedding) = %(dims)s
                ORDER BY distance LIMIT %(limit)s),
            page AS (
                SELECT near.id, (SELECT max(x.created_at) FROM messages x
                                 WHERE x.conversation_id = near.id) AS last_at,
                       left(near.summary, 240) AS snippet, (1 - near.distance)::real AS rank
                FROM near)
            {_DESCRIBE}
            ORDER BY page.rank DESC, page.id DESC"""
        return await self._fetch(
            sql, _params(scope, vector=literal, model=model, dims=len(vector), limit=limit)
        )
