"""The HNSW index over chunk vectors: which form it takes, and the distance that uses it.

With pgvector 0.7 or later the index holds half-precision copies of the vectors
(``embedding::halfvec(N)``): half the memory and half the bytes per distance. At a million
chunks a question's walk took about a third less time for the same recall@10
(docs/benchmarks.md, retrieval latency), and models up to 4,000 dimensions can be indexed
(2,000 in full precision). The table keeps full-precision vectors either way. Older pgvector
(0.6, which the embedded Postgres ships) indexes the column as it is.

With pgvector 0.8 or later a filtered walk can go on past its breadth until enough chunks pass
the filter (``hnsw.iterative_scan``); before 0.8 a walk stops at its breadth, filter or not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg import AsyncConnection, sql

INDEX_NAME = "chunks_embedding_hnsw_idx"
# m 24 and ef_construction 200 (pgvector's defaults are 16 and 64): a denser, better built graph
# reaches recall@10 0.95 with a much narrower walk, which is what each question pays for; the
# build takes about twice as long (docs/benchmarks.md, retrieval latency;
# bench/retrieval_latency.py builds this same index).
_WITH = sql.SQL(" WITH (m = 24, ef_construction = 200)")
_HALF_FROM = (0, 7, 0)
_ITERATIVE_FROM = (0, 8, 0)
_HALF_MAX_DIMENSIONS = 4000


@dataclass(frozen=True, slots=True)
class VectorIndex:
    """One form of the index: over ``halfvec(dimensions)`` copies, or over the column; and
    whether the server's walks can be iterative (pgvector 0.8)."""

    half: bool
    dimensions: int
    iterative: bool = False

    def create(self) -> sql.Composed:
        """``CREATE INDEX IF NOT EXISTS`` for this form."""
        head = sql.SQL("CREATE INDEX IF NOT EXISTS {} ON chunks USING hnsw ").format(
            sql.Identifier(INDEX_NAME)
        )
        if self.half:
            body = sql.SQL("((embedding::halfvec({})) halfvec_cosine_ops)").format(
                sql.Literal(self.dimensions)
            )
        else:
            body = sql.SQL("(embedding vector_cosine_ops)")
        return head + body + _WITH

    def distance(self, column: str, parameter: str) -> str:
        """The cosine distance between ``column`` and the bound ``parameter``, written as the
        index is (an expression index serves only the same expression)."""
        if self.half:
            cast = f"halfvec({int(self.dimensions)})"
            return f"{column}::{cast} <=> %({parameter})s::{cast}"
        return f"{column} <=> %({parameter})s::vector"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("-")[0].split(".") if part.isdigit())


async def _server(conn: AsyncConnection) -> tuple[tuple[int, ...], int, str | None]:
    """pgvector's version, the column's dimension and the index's definition (None if none)."""
    cur = await conn.execute(
        """SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector'),
                  (SELECT atttypmod FROM pg_attribute
                   WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'),
                  pg_get_indexdef(to_regclass(%s))""",
        (INDEX_NAME,),
    )
    row = await cur.fetchone()
    if row is None:
        return (), 0, None
    return (_version(row[0]) if row[0] else ()), int(row[1] or 0), row[2]


async def wanted_index(conn: AsyncConnection) -> VectorIndex:
    """The form a new index takes on this server, for the column's dimension."""
    version, dimensions, _ = await _server(conn)
    half = version >= _HALF_FROM and 0 < dimensions <= _HALF_MAX_DIMENSIONS
    return VectorIndex(half=half, dimensions=dimensions, iterative=version >= _ITERATIVE_FROM)


async def existing_index(conn: AsyncConnection, dimensions: int) -> VectorIndex | None:
    """The form of the index as it is now, or None while there is none (a bulk load)."""
    version, _, definition = await _server(conn)
    if definition is None:
        return None
    return VectorIndex(
        half="halfvec" in definition, dimensions=dimensions, iterative=version >= _ITERATIVE_FROM
    )


class IndexForms:
    """What the retriever writes its distance as: the existing index's form (else the form
    one would be built in), looked up again after ``ttl`` seconds so that a rebuild in another
    form (a pgvector upgrade, a model change) is followed without a restart."""

    def __init__(self, ttl: float = 60.0) -> None:
        self._ttl = ttl
        self._known: dict[int, tuple[float, VectorIndex]] = {}

    async def get(self, conn: AsyncConnection, dimensions: int) -> VectorIndex:
        now = time.monotonic()
        known = self._known.get(dimensions)
        if known is not None and now - known[0] < self._ttl:
            return known[1]
        form = await existing_index(conn, dimensions) or await wanted_index(conn)
        self._known[dimensions] = (now, form)
        return form
