"""Postgres implementation of the core's KnowledgeStore: documents and their chunks."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.ingest.documents import ChunkDraft, LoadedDocument

_COPY_CHUNKS = (
    "COPY chunks (document_id, ord, domain, title, section, page_start, page_end, text, embedding)"
    " FROM STDIN"
)


def _vector_literal(vector: Sequence[float] | None) -> str | None:
    return None if vector is None else "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


class PgKnowledgeStore:
    """Documents and chunks; a document and its chunks are replaced in one transaction."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def document_hashes(self, uris: Sequence[str]) -> dict[str, str]:
        if not uris:
            return {}
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT uri, content_hash FROM documents WHERE uri = ANY(%s)", (list(uris),)
            )
            return {uri: digest for uri, digest in await cur.fetchall()}

    async def replace_document(self, document: LoadedDocument, chunks: Sequence[ChunkDraft]) -> int:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """INSERT INTO documents (uri, source, kind, title, domain, url, path, content_hash, metadata)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (uri) DO UPDATE SET
                       source = EXCLUDED.source, kind = EXCLUDED.kind, title = EXCLUDED.title,
                       domain = EXCLUDED.domain, url = EXCLUDED.url, path = EXCLUDED.path,
                       content_hash = EXCLUDED.content_hash, metadata = EXCLUDED.metadata,
                       updated_at = now()
                   RETURNING id""",
                (
                    document.uri,
                    document.source,
                    document.kind,
                    document.title,
                    document.domain,
                    document.url,
                    document.path,
                    document.content_hash,
                    Jsonb(document.metadata),
                ),
            )
            row = await cur.fetchone()
            assert row is not None
            document_id = int(row[0])
            await conn.execute("DELETE FROM chunks WHERE document_id = %s", (document_id,))
            async with conn.cursor().copy(_COPY_CHUNKS) as copy:
                for chunk in chunks:
                    await copy.write_row(
                        (
                            document_id,
                            chunk.ord,
                            document.domain,
                            document.title,
                            chunk.section,
                            chunk.page_start,
                            chunk.page_end,
                            chunk.text,
                            _vector_literal(chunk.embedding),
                        )
                    )
        return document_id

    async def remove_missing(self, prefix: str, keep: set[str]) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """DELETE FROM documents
                   WHERE starts_with(uri, %s) AND source = 'folder' AND NOT (uri = ANY(%s))""",
                (prefix, list(keep)),
            )
            return cur.rowcount

    async def count_chunks(self) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM chunks")
            row = await cur.fetchone()
        return int(row[0]) if row else 0
