"""Pairwise cosine similarity of a few thousand vectors, computed by pgvector in Postgres.

The weekly-prompts job compares every question with every other. In pure Python that is
minutes for embedding-sized vectors; pgvector's distance operator does it in C inside the
database we already have, so no numeric library is needed in the application.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


async def similar_pairs(
    pool: AsyncConnectionPool, vectors: Sequence[Sequence[float]], *, threshold: float
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, cosine similarity) with i < j and similarity ≥ ``threshold``."""
    if len(vectors) < 2:
        return []
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE question_vectors (i integer PRIMARY KEY, v vector) ON COMMIT DROP"
        )
        async with conn.cursor().copy("COPY question_vectors (i, v) FROM STDIN") as copy:
            for i, vector in enumerate(vectors):
                await copy.write_row((i, _literal(vector)))
        cur = await conn.execute(
            """SELECT a.i, b.i, 1 - (a.v <=> b.v)
               FROM question_vectors a JOIN question_vectors b ON a.i < b.i
               WHERE (a.v <=> b.v) <= %s""",
            (1.0 - threshold,),
        )
        return [(int(i), int(j), float(s)) for i, j, s in await cur.fetchall()]
