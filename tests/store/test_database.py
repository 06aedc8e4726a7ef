"""The pool's check: skipped for a connection checked moments ago, unless the server spoke."""

from __future__ import annotations

import asyncio

import psycopg

from bots.runtime import Runtime


async def test_connections_the_server_closed_moments_after_their_check_are_not_handed_out(
    runtime: Runtime, database_url: str
):
    pool = runtime.db.pool
    for _ in range(3):  # every connection checked within the recheck window
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    await asyncio.sleep(0.2)

    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1")
        assert await cur.fetchone() == (1,)
