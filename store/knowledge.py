"""Postgres implementation of the core's KnowledgeStore: documents, chunks and their vectors."""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from psycopg import AsyncConnection, AsyncCursor, sql
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.rows import class_row
from psycopg.types import TypeInfo
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.errors import IngestError
from core.ingest.documents import ChunkDraft, LoadedDocument
from store.vector_index import INDEX_NAME, existing_index, wanted_index

log = structlog.get_logger(__name__)

_COLUMNS = (
    "document_id, ord, domain, title, section, page_start, page_end, page, text, embedding"
)
_COPY_CHUNKS = f"COPY chunks ({_COLUMNS}) FROM STDIN"
# Binary COPY spares formatting and parsing every float as text (most of a bulk write's time).
_COPY_CHUNKS_BINARY = f"COPY chunks ({_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)"
_COPY_TYPES = [
    "bigint", "integer", "text", "text", "text", "integer", "integer", "integer", "text", "vector"
]
_DROP_INDEX = sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(INDEX_NAME))
# Serialises changes of the embedding space between replicas starting together.
_SPACE_LOCK = 0x5B_0002


def vector_literal(vector: Sequence[float] | None) -> str | None:
    """pgvector's text form, ``[0.1,0.2,...]``; fine for COPY and for bound parameters."""
    return None if vector is None else "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


class _Vector(list[float]):
    """A vector bound for binary COPY (a plain list would be dumped as an array)."""


class _VectorBinaryDumper(Dumper):
    """pgvector's binary form: dimension and an unused word (uint16 each), then float4s,
    all big-endian."""

    format = Format.BINARY

    def dump(self, obj: _Vector) -> bytes:
        floats = array("f", obj)
        if sys.byteorder == "little":
            floats.byteswap()
        return struct.pack(">HH", len(floats), 0) + floats.tobytes()


@dataclass(frozen=True, slots=True)
class EmbeddingSpace:
    """The model whose vectors the index holds, and their dimension."""

    model: str
    dimensions: int


@dataclass(frozen=True, slots=True)
class PendingChunk:
    """A chunk still waiting for its vector."""

    id: int
    title: str
    section: str | None
    text: str


class PgKnowledgeStore:
    """Documents and chunks; a document and its chunks are replaced in one transaction.

    Vectors are written only in the space chosen with ``use_embedding_space``; a write made
    for another model is refused, so two vector spaces never mix in one index.
    """

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._space: EmbeddingSpace | None = None
        self._vector_type: tuple[TypeInfo, type[Dumper]] | None = None

    # -- documents -------------------------------------------------------------------------

    async def document_hashes(self, uris: Sequence[str]) -> dict[str, str]:
        if not uris:
            return {}
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT uri, content_hash FROM documents WHERE uri = ANY(%s)", (list(uris),)
            )
            return {uri: digest for uri, digest in await cur.fetchall()}

    async def replace_document(self, document: LoadedDocument, chunks: Sequence[ChunkDraft]) -> int:
        ids = await self.replace_documents([(document, chunks)])
        return ids[0]

    async def replace_documents(
        self, batch: Sequence[tuple[LoadedDocument, Sequence[ChunkDraft]]]
    ) -> list[int]:
        """Store several documents with exactly their chunks, all in one transaction."""
        if not batch:
            return []
        embedded = any(c.embedding is not None for _, chunks in batch for c in chunks)
        async with self._pool.connection() as conn, conn.transaction():
            if embedded:
                await self._check_space(conn)
            ids: list[int] = []
            for document, _ in batch:
                cur = await conn.execute(
                    """INSERT INTO documents
                           (uri, source, kind, title, domain, url, path, content_hash, metadata)
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
                ids.append(int(row[0]))
            await conn.execute("DELETE FROM chunks WHERE document_id = ANY(%s)", (ids,))
            cursor = conn.cursor()
            binary = embedded and await self._binary_vectors(cursor)
            async with cursor.copy(_COPY_CHUNKS_BINARY if binary else _COPY_CHUNKS) as copy:
                if binary:
                    copy.set_types(_COPY_TYPES)
                for document_id, (document, chunks) in zip(ids, batch, strict=True):
                    for chunk in chunks:
                        vector = chunk.embedding
                        await copy.write_row(
                            (
                                document_id,
                                chunk.ord,
                                document.domain,
                                document.title,
                                chunk.section,
                                chunk.page_start,
                                chunk.page_end,
                                chunk.page,
                                chunk.text,
                                (None if vector is None else _Vector(vector))
                                if binary
                                else vector_literal(vector),
                            )
                        )
        return ids

    async def _binary_vectors(self, cursor: AsyncCursor) -> bool:
        """Teach ``cursor`` pgvector's binary form; False if the type cannot be found."""
        if self._vector_type is None:
            info = await TypeInfo.fetch(cursor.connection, "vector")
            if info is None:
                return False
            # The type's oid differs from database to database: learn it once.
            dumper = type("VectorDumper", (_VectorBinaryDumper,), {"oid": info.oid})
            self._vector_type = (info, dumper)
        info, dumper = self._vector_type
        info.register(cursor)
        cursor.adapters.register_dumper(_Vector, dumper)
        return True

    async def remove_missing(self, prefix: str, keep: set[str], *, source: str = "folder") -> int:
        """Delete ``source`` documents whose uri starts with ``prefix`` and is not in ``keep``."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """DELETE FROM documents
                   WHERE starts_with(uri, %s) AND source = %s AND NOT (uri = ANY(%s))""",
                (prefix, source, list(keep)),
            )
            return cur.rowcount

    async def remove(self, uris: Sequence[str]) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("DELETE FROM documents WHERE uri = ANY(%s)", (list(uris),))
            return cur.rowcount

    async def refresh_term_statistics(self, changed: int) -> bool:
        """Recount lexeme_stats (full text's IDF) and the planner's statistics (which also tell
        a filtered walk how wide to go) when ``changed`` chunks are a notable share (5 %) of
        the index, or it was never counted. True when it was refreshed."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT (SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass),
                          NOT EXISTS (SELECT 1 FROM lexeme_stats)"""
            )
            row = await cur.fetchone()
            assert row is not None
            total, empty = max(float(row[0]), 0.0), bool(row[1])
            if not empty and changed * 20 < total:
                return False
            # CONCURRENTLY: searches keep reading the old counts meanwhile.
            await conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY lexeme_stats")
            await conn.execute("ANALYZE chunks, documents")
        return True

    async def count_chunks(self) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM chunks")
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # -- the embedding space ---------------------------------------------------------------

    async def embedding_space(self) -> EmbeddingSpace | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(EmbeddingSpace))
            await cur.execute("SELECT model, dimensions FROM embedding_space")
            return await cur.fetchone()

    async def use_embedding_space(self, model: str, dimensions: int) -> bool:
        """Make ``model`` (``dimensions`` wide) the space of the index; True if it changed.

        On a change every stored vector is dropped (the chunks and their full text stay), the
        column is retyped to the new dimension and the HNSW index rebuilt, all in one
        transaction: searches see either the old space or the new, never a mixture. The
        chunks are then re-embedded by ``Ingestor.backfill``.
        """
        wanted = EmbeddingSpace(model, dimensions)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SPACE_LOCK,))
            cur = conn.cursor(row_factory=class_row(EmbeddingSpace))
            await cur.execute("SELECT model, dimensions FROM embedding_space FOR UPDATE")
            current = await cur.fetchone()
            if current == wanted:
                # An ingest that stopped mid-way may have left the index dropped.
                await _ensure_index(conn, dimensions)
                self._space = wanted
                return False
            await conn.execute(_DROP_INDEX)
            cleared = await conn.execute(
                "UPDATE chunks SET embedding = NULL WHERE embedding IS NOT NULL"
            )
            await conn.execute(
                sql.SQL("ALTER TABLE chunks ALTER COLUMN embedding TYPE vector({})").format(
                    sql.Literal(dimensions)
                )
            )
            await conn.execute((await wanted_index(conn)).create())
            await conn.execute(
                """INSERT INTO embedding_space (id, model, dimensions) VALUES (true, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET model = EXCLUDED.model,
                       dimensions = EXCLUDED.dimensions, changed_at = now()""",
                (model, dimensions),
            )
        log.warning(
            "embedding_space_changed",
            old=None if current is None else f"{current.model}/{current.dimensions}",
            new=f"{model}/{dimensions}",
            vectors_dropped=cleared.rowcount,
        )
        self._space = wanted
        return True

    async def begin_bulk_load(self, incoming: int) -> bool:
        """Drop the HNSW index before writing ``incoming`` new documents if they at least
        double the index: building it once afterwards is many times faster than growing it
        row by row. True when dropped; ``end_bulk_load`` must follow (in a ``finally``)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM documents")
            row = await cur.fetchone()
            if incoming < 50 or incoming < (int(row[0]) if row else 0):
                return False
            await conn.execute(_DROP_INDEX)
        log.info("vector_index_dropped_for_bulk_load", incoming=incoming)
        return True

    async def end_bulk_load(self) -> None:
        async with self._pool.connection() as conn:
            # Building in memory is what makes it fast; the default (64 MB) spills to disk.
            await conn.execute("SET maintenance_work_mem = '1GB'")
            try:
                await conn.execute((await wanted_index(conn)).create())
            finally:
                await conn.execute("RESET maintenance_work_mem")
        log.info("vector_index_built")

    async def pending_embeddings(self, *, after: int = 0, limit: int = 256) -> list[PendingChunk]:
        """Chunks without a vector, by id, starting after ``after``."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(PendingChunk))
            await cur.execute(
                """SELECT id, title, section, text FROM chunks
                   WHERE id > %s AND embedding IS NULL ORDER BY id LIMIT %s""",
                (after, limit),
            )
            return await cur.fetchall()

    async def write_embeddings(self, ids: Sequence[int], vectors: Sequence[Sequence[float]]) -> int:
        async with self._pool.connection() as conn, conn.transaction():
            await self._check_space(conn)
            cur = await conn.execute(
                """UPDATE chunks c SET embedding = v.embedding::vector
                   FROM unnest(%s::bigint[], %s::text[]) AS v(id, embedding)
                   WHERE c.id = v.id""",
                (list(ids), [vector_literal(v) for v in vectors]),
            )
            return cur.rowcount

    async def _check_space(self, conn: AsyncConnection) -> None:
        cur = conn.cursor(row_factory=class_row(EmbeddingSpace))
        await cur.execute("SELECT model, dimensions FROM embedding_space FOR SHARE")
        current = await cur.fetchone()
        if self._space is None or current != self._space:
            stored = "none" if current is None else f"{current.model} ({current.dimensions})"
            mine = "none" if self._space is None else self._space.model
            raise IngestError(
                f"The index holds vectors of {stored}, but this process embeds with {mine}. "
                "Restart every replica with the same SWITCHBOARD_EMBEDDING_MODEL."
            )


async def _ensure_index(conn: AsyncConnection, dimensions: int) -> None:
    """Build the index if it is missing. One in full precision on a pgvector that could hold
    it in half is kept (rebuilding would lock the table for minutes at scale): the next bulk
    load or model change builds the half-precision form, and the retriever follows whichever
    exists (store/vector_index.py)."""
    wanted = await wanted_index(conn)
    existing = await existing_index(conn, dimensions)
    if existing is None:
        await conn.execute(wanted.create())
    elif existing.half != wanted.half:
        log.info("vector_index_form_kept", half_precision=existing.half, could_be=wanted.half)
