"""Find a person anywhere in the database: every table the migrations made, every column, JSON
included. Used to check that forget-me leaves nothing behind, including in tables added later.
"""

from __future__ import annotations

from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from tests.support.conversations import rows

# Kept on purpose after forget-me (store/privacy.py says why): the users row with ids and role
# only, the audit trail (ids, counts), and each event's delivery key (a Teams key names the
# chat), which dedupes late deliveries until inbox retention removes the row.
KEPT_ON_PURPOSE = {"users", "audit_log"}
KEPT_COLUMNS = {"inbox": ["event_key"]}
KEPT_REFERENCES = {("audit_log", "actor_id")}


async def tables(pool: AsyncConnectionPool) -> list[str]:
    found = await rows(
        pool,
        """SELECT table_name FROM information_schema.tables
           WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1""",
    )
    return [str(name) for (name,) in found]


async def tables_mentioning(pool: AsyncConnectionPool, needle: str) -> set[str]:
    """Every table with a row whose text (all its columns but ``KEPT_COLUMNS``, JSON included)
    contains ``needle``."""
    hits = set()
    async with pool.connection() as conn:
        for table in await tables(pool):
            cur = await conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM {} AS r "
                    "WHERE strpos((to_jsonb(r) - %s::text[])::text, %s) > 0"
                ).format(sql.Identifier(table)),
                (KEPT_COLUMNS.get(table, []), needle),
            )
            row = await cur.fetchone()
            if row and row[0]:
                hits.add(table)
    return hits


async def rows_referencing(pool: AsyncConnectionPool, user_id: int) -> dict[tuple[str, str], int]:
    """For every column with a foreign key to ``users``: how many rows point at ``user_id``."""
    columns = await rows(
        pool,
        """SELECT c.conrelid::regclass::text, a.attname
           FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
           WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass""",
    )
    counts: dict[tuple[str, str], int] = {}
    async with pool.connection() as conn:
        for table, column in columns:
            cur = await conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                    sql.Identifier(table), sql.Identifier(column)
                ),
                (user_id,),
            )
            row = await cur.fetchone()
            counts[(table, column)] = int(row[0]) if row else 0
    return counts


async def assert_forgotten(pool: AsyncConnectionPool, user_id: int, needles: list[str]) -> None:
    """Nothing of the person left: none of ``needles`` (their ids, name, words) in any table
    but those kept on purpose, no row pointing at their ``users.id`` but the audit trail's,
    and their users row without name or email."""
    for needle in needles:
        assert await tables_mentioning(pool, needle) <= KEPT_ON_PURPOSE, needle
    referencing = await rows_referencing(pool, user_id)
    assert referencing  # users has foreign keys pointing at it: the check is not empty
    assert {k for k, n in referencing.items() if n} <= KEPT_REFERENCES
    assert await rows(pool, "SELECT display_name, email FROM users WHERE id = %s", user_id) == [
        (None, None)
    ]


async def redis_mentioning(redis: Redis, needle: str) -> list[str]:
    """The Redis keys whose name or string value contains ``needle``."""
    found = []
    async for key in redis.scan_iter(count=500):
        name = key.decode() if isinstance(key, bytes) else str(key)
        value = await redis.get(key) if await redis.type(key) in (b"string", "string") else None
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")
        if needle in name or needle in text:
            found.append(name)
    return found
