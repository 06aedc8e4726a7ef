"""Who may read each document: the audiences ``ingest --allow`` sets, kept per target and
applied to its documents (store/migrations/0013_identity.sql).

Retrieval keeps a chunk when its document is public (``audience IS NULL``) or its audience
shares a principal with the asker's (``AUDIENCE_FILTER``). The restricted documents a person
may not read are read from a partial index that holds the restricted documents only, and left
out with a hashed sub-plan: a few percent of documents restricted cost the walk next to nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool

# %(principals)s: the asker's principals (empty: public documents only).
AUDIENCE_FILTER = """
  AND c.document_id NOT IN (SELECT id FROM documents
                            WHERE audience IS NOT NULL
                              AND NOT audience && %(principals)s::text[])
"""

# For a question ``m``: the answer that followed it used no restricted document (weekly
# prompts are shown to everyone, so only such questions become prompts).
PUBLIC_ANSWER = """
  AND NOT EXISTS (
      SELECT 1 FROM messages a
      CROSS JOIN LATERAL jsonb_array_elements(a.sources) s
      JOIN documents d ON d.id = (s ->> 'document_id')::bigint
      WHERE a.id = (SELECT n.id FROM messages n
                    WHERE n.conversation_id = m.conversation_id AND n.id > m.id
                      AND n.role = 'assistant' ORDER BY n.id LIMIT 1)
        AND d.audience IS NOT NULL)
"""

_APPLY = """
UPDATE documents d SET audience = document_audience(d.uri, d.url), updated_at = now()
WHERE d.audience IS DISTINCT FROM document_audience(d.uri, d.url)
"""


class PgAudiences:
    """Sets and reapplies document audiences."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def allow(
        self, target: str, audience: Sequence[str] | None, *, set_by: str = "cli"
    ) -> int:
        """Make ``target`` (a folder, file, URL or source) readable by ``audience`` (None:
        everyone), for what is stored under it now and later. Returns how many stored
        documents changed."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO document_audiences (target, audience, set_by)
                   VALUES (%s, %s, %s)
                   ON CONFLICT (target) DO UPDATE SET audience = EXCLUDED.audience,
                       set_by = EXCLUDED.set_by, updated_at = now()""",
                (target, list(audience) if audience is not None else None, set_by),
            )
            cur = await conn.execute(_APPLY)
            return cur.rowcount

    async def reapply(self) -> int:
        """Every document's audience from the targets' (``ingest --permissions-only``)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_APPLY)
            return cur.rowcount

    async def any_restricted(self, document_ids: Sequence[int]) -> bool:
        if not document_ids:
            return False
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT EXISTS (SELECT 1 FROM documents WHERE id = ANY(%s) AND audience IS NOT NULL)",
                (list(document_ids),),
            )
            row = await cur.fetchone()
        return bool(row and row[0])
