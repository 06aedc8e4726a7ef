"""Who may read each document: the audiences ``ingest --allow`` sets, kept per target, and
the permissions SharePoint and Confluence listings mirror, kept per document; applied to the
documents (store/migrations/0013_identity.sql, 0017_source_permissions.sql).

Retrieval keeps a chunk when its document is public (``audience IS NULL``) or its audience
shares a principal with the asker's (``AUDIENCE_FILTER``). The restricted documents a person
may not read are read from a partial index that holds the restricted documents only, and left
out with a hashed sub-plan: a few percent of documents restricted cost the walk next to nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from core.ingest.connectors.permissions import Mirrored

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


@dataclass(frozen=True, slots=True)
class RestrictedDocument:
    """A document not everyone may read (``switchboard access``); ``audience`` empty: no one
    here."""

    title: str
    location: str
    audience: list[str]


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

    async def mirror(self, scope: str, permissions: Mapping[str, Mirrored]) -> int:
        """Record who may read each document a source listed under ``scope`` (its uri prefix)
        and apply it to the stored documents there, in one transaction: a document the
        ingestor writes next takes its audience as it is inserted. Returns how many stored
        documents changed audience."""
        rows = [
            (uri, list(m.principals), m.everyone, m.via_target)
            for uri, m in permissions.items()
        ]
        async with self._pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                await cur.executemany(
                    """INSERT INTO document_permissions (uri, principals, everyone, via_target)
                       VALUES (%s, %s, %s, %s)
                       ON CONFLICT (uri) DO UPDATE SET principals = EXCLUDED.principals,
                           everyone = EXCLUDED.everyone, via_target = EXCLUDED.via_target,
                           updated_at = now()
                       WHERE (document_permissions.principals, document_permissions.everyone,
                              document_permissions.via_target)
                             IS DISTINCT FROM (EXCLUDED.principals, EXCLUDED.everyone,
                                               EXCLUDED.via_target)""",
                    rows,
                )
            # Rows of documents that are gone and were not listed now.
            await conn.execute(
                """DELETE FROM document_permissions p
                   WHERE starts_with(p.uri, %(scope)s) AND NOT p.uri = ANY(%(listed)s)
                     AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.uri = p.uri)""",
                {"scope": scope, "listed": list(permissions)},
            )
            cur = await conn.execute(
                _APPLY + " AND starts_with(d.uri, %(scope)s)", {"scope": scope}
            )
            return cur.rowcount

    async def reapply(self) -> int:
        """Every document's audience from the targets' (``ingest --permissions-only``)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_APPLY)
            return cur.rowcount

    async def restricted(
        self, matching: str | None = None, *, limit: int = 500
    ) -> tuple[int, list[RestrictedDocument]]:
        """How many stored documents are public, and the restricted ones (those whose title or
        location contains ``matching``), by title."""
        like = f"%{matching}%" if matching else "%"
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM documents WHERE audience IS NULL"
            )
            row = await cur.fetchone()
            async with conn.cursor(row_factory=class_row(RestrictedDocument)) as rows:
                await rows.execute(
                    """SELECT title, coalesce(url, path, uri) AS location, audience
                       FROM documents
                       WHERE audience IS NOT NULL
                         AND (title ILIKE %(like)s OR uri ILIKE %(like)s
                              OR coalesce(url, '') ILIKE %(like)s)
                       ORDER BY title, uri LIMIT %(limit)s""",
                    {"like": like, "limit": limit},
                )
                found = await rows.fetchall()
        return (int(row[0]) if row else 0), found

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

    async def readable(self, document_ids: Sequence[int], principals: Sequence[str]) -> bool:
        """Whether someone with ``principals`` may read every one of these documents now (a
        document deleted since counts as unreadable)."""
        ids = list(set(document_ids))
        if not ids:
            return True
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT count(*) FROM documents
                   WHERE id = ANY(%(ids)s)
                     AND (audience IS NULL OR audience && %(principals)s::text[])""",
                {"ids": ids, "principals": list(principals)},
            )
            row = await cur.fetchone()
        return bool(row) and int(row[0]) == len(ids)
