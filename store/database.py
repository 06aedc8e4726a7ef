"""The connection pool: to ``DATABASE_URL``, or to the embedded server when it is unset."""

from __future__ import annotations

import math
import select
import time
import weakref
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.errors import StoreUnavailable
from core.settings import Settings
from store.embedded import start_embedded
from store.migrate import apply_migrations

log = structlog.get_logger(__name__)

# How long the pool keeps retrying a lost connection before it starts a new round of attempts
# (``PoolRecovery.reconnect_failed``). psycopg_pool doubles the pause between attempts (1, 2,
# 4, 8 … s) up to ``reconnect_timeout``; a short one keeps every pause about a second, so the
# pool reconnects within about a second of the server coming back, however long it was away.
RECONNECT_ROUND_S = 2.0
# A connection taken again within this long of its last check is not checked again, as long
# as nothing arrived on it while it was idle: in a burst every answer takes a connection
# several times, and an empty statement each time was a third to a half of the Postgres
# transactions an answer cost. A server that stops or restarts closes its connections (after
# a FATAL message), which leaves them readable: those are checked at once. Only a silent loss
# (the network between the two) waits for the next check, and fails one statement, which the
# answer's retry covers.
RECHECK_AFTER_S = 30.0


def _quiet(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Nothing to read on an idle connection: no error, no close, no notice from the server.
    A look at the socket, no round trip."""
    try:
        ready, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):
        return False
    return not ready


def describe(url: str) -> str:
    """The server part of a database URL, without credentials, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if "host=" in parts.query:
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path}"


class PoolRecovery:
    """Gets the pool over a database restart in about a second, not tens of seconds.

    Two things in psycopg_pool's own behaviour make the wait grow with the outage:

    - A connection that fails its check when a client takes it is replaced, and the client
      tries the next one after a pause that doubles each time (0, 1, 2, 4 … s). After a
      restart every idle connection in the pool is dead, so a client could sleep through most
      of them in turn. ``check`` therefore drops *all* dead idle connections (``pool.check()``)
      at the first one it finds: the client then waits for a fresh connection instead.
    - Reconnection attempts back off the same way. With ``RECONNECT_ROUND_S`` as the pool's
      ``reconnect_timeout`` a round of attempts gives up after a couple of seconds, and
      ``reconnect_failed`` starts the next round at once (``pool.check()`` lets an empty pool
      grow again): one attempt about every second for as long as the server is away.
    """

    def __init__(self, *, recheck_after_s: float = RECHECK_AFTER_S) -> None:
        self.pool: AsyncConnectionPool | None = None
        self._sweeping = False
        self._recheck_after_s = recheck_after_s
        self._checked: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The pool's check when a client takes a connection (one empty statement), unless
        it was checked within ``recheck_after_s`` and nothing arrived on it since."""
        now = time.monotonic()
        if now - self._checked.get(conn, -math.inf) < self._recheck_after_s and _quiet(conn):
            return
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            self._checked.pop(conn, None)
            await self._drop_dead()
            raise
        self._checked[conn] = now

    async def reconnect_failed(self, pool: AsyncConnectionPool) -> None:
        if not pool.closed:
            await pool.check()

    async def _drop_dead(self) -> None:
        pool = self.pool
        if pool is None or pool.closed or self._sweeping:
            return
        self._sweeping = True
        try:
            log.warning("database_connection_lost", action="dropping dead idle connections")
            await pool.check()
        finally:
            self._sweeping = False


@dataclass(slots=True)
class Database:
    """An open pool and where it points. Close it with ``await db.aclose()``."""

    pool: AsyncConnectionPool
    url: str
    embedded: bool

    @classmethod
    async def connect(cls, settings: Settings, *, migrate: bool = True) -> Self:
        """Open the pool (starting the embedded server if needed) and apply migrations.

        Raises ``StoreUnavailable`` with a message naming the server when it cannot be reached.
        """
        embedded = settings.database_url is None
        if settings.database_url is not None:
            url = settings.database_url.get_secret_value()
        else:
            url = await start_embedded(settings.data_dir)
        try:
            # One direct attempt first: a wrong URL fails in seconds with the server's reason,
            # instead of the pool retrying quietly until its timeout.
            probe = await psycopg.AsyncConnection.connect(url, connect_timeout=5)
            await probe.close()
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(
                f"Cannot reach the database at {describe(url)} ({reason}). Check that the server "
                "is running and DATABASE_URL is right (unset it to use the embedded Postgres)."
            ) from exc
        recovery = PoolRecovery()
        pool = AsyncConnectionPool(
            url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            open=False,
            kwargs={"autocommit": True},
            check=recovery.check,
            reconnect_timeout=RECONNECT_ROUND_S,
            reconnect_failed=recovery.reconnect_failed,
        )
        recovery.pool = pool
        try:
            await pool.open(wait=True, timeout=10)
        except PoolTimeout as exc:
            await pool.close()
            raise StoreUnavailable(
                f"Cannot reach the database at {describe(url)}. Check that the server is "
                "running and DATABASE_URL is right (unset it to use the embedded Postgres)."
            ) from exc
        db = cls(pool=pool, url=url, embedded=embedded)
        if migrate:
            async with pool.connection() as conn:
                await apply_migrations(conn)
        return db

    async def ping(self) -> None:
        async with self.pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")

    async def aclose(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
