"""With DATABASE_URL unset, Switchboard runs its own Postgres 16 + pgvector and reuses it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
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


_START = (
    "import asyncio, sys; from pathlib import Path; from store.embedded import start_embedded; "
    "print(asyncio.run(start_embedded(Path(sys.argv[1]))), flush=True)"
)


def _postmaster(data_dir: Path) -> psutil.Process | None:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return None
    try:
        process = psutil.Process(int(pid_file.read_text().split()[0]))
        return process if process.status() != psutil.STATUS_ZOMBIE else None
    except (psutil.Error, ValueError):
        return None


def test_a_start_after_a_crash_stops_the_orphaned_postgres_when_it_ends():
    data_dir = Path(tempfile.mkdtemp(prefix="sborph-", dir="/tmp"))
    crashed = subprocess.Popen(
        [sys.executable, "-c", _START + "; import time; time.sleep(60)", str(data_dir)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert crashed.stdout is not None and crashed.stdout.readline().startswith("postgresql")
        os.kill(crashed.pid, signal.SIGKILL)
        crashed.wait(10)
        orphan = _postmaster(data_dir)
        assert orphan is not None  # kill -9 leaves Postgres running: the orphan

        # The next start adopts it, and its normal end stops it.
        subprocess.run([sys.executable, "-c", _START, str(data_dir)], check=True, timeout=60,
                       capture_output=True)
        deadline = time.monotonic() + 10
        while orphan.is_running() and orphan.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the orphaned Postgres outlived the next start"
            time.sleep(0.1)
        assert _postmaster(data_dir) is None
    finally:
        crashed.kill()
        left = _postmaster(data_dir)
        if left is not None:
            left.terminate()
