"""What the connector tests look at: the index as a user's search would find it."""

from __future__ import annotations

from bots.runtime import Runtime


async def indexed(runtime: Runtime, source: str) -> dict[str, tuple[str, str | None, str]]:
    """uri -> (title, url, all chunk text) of every document from ``source``."""
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT d.uri, d.title, d.url, string_agg(c.text, ' ' ORDER BY c.ord)
               FROM documents d JOIN chunks c ON c.document_id = d.id
               WHERE d.source = %s GROUP BY d.uri, d.title, d.url""",
            (source,),
        )
        return {uri: (title, url, text) for uri, title, url, text in await cur.fetchall()}


async def everything(runtime: Runtime) -> list[tuple]:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT d.uri, d.content_hash, d.updated_at, c.id, c.text
               FROM documents d JOIN chunks c ON c.document_id = d.id ORDER BY c.id"""
        )
        return await cur.fetchall()
