"""With DATABASE_URL unset, Switchboard runs its own Postgres 16 + pgvector and reuses it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg

from core.settings import Settings
from store.database import Database


async def test_embedded_postgres_starts_migrates_and_is_reused():
    # A short path: Postgres' Unix socket lives inside the data folder.
    data_dir = Path(tempfile.mkdtemp(prefix="sbemb-", dir="/tmp"))
    settings = Settings(_env_file=None, database_url=None, data_dir=data_dir)

    async with await Database.connect(settings) as db:
        assert db.embedded
        async with db.pool.connection() as conn:
            cur = await conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            assert (await cur.fetchone()) is not None
            cur = await conn.execute("SHOW server_version_num")
            assert int((await cur.fetchone())[0]) >= 160000
            await conn.execute(
                "INSERT INTO users (platform, workspace_id, platform_user_id) VALUES ('t', 'w', 'kept')"
            )
    assert (data_dir / "pgdata" / "PG_VERSION").exists()

    # The next start finds the same data.
    async with await Database.connect(settings) as db, db.pool.connection() as conn:
        cur = await conn.execute("SELECT platform_user_id FROM users")
        assert await cur.fetchall() == [("kept",)]
        cur = await conn.execute("SELECT count(*) FROM schema_migrations")
        applied = (await cur.fetchone())[0]
    assert applied >= 1


async def test_migrations_applied_twice_change_nothing(database_url: str):
    from store.migrate import apply_migrations

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        before = await cur.fetchall()
        assert await apply_migrations(conn) == []
        cur = await conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        assert await cur.fetchall() == before
