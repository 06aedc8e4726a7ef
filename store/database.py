"""The connection pool: to ``DATABASE_URL``, or to the embedded server when it is unset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.errors import StoreUnavailable
from core.settings import Settings
from store.embedded import start_embedded
from store.migrate import apply_migrations


def describe(url: str) -> str:
    """The server part of a database URL, without credentials, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if "host=" in parts.query:
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path}"


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
        pool = AsyncConnectionPool(
            url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            open=False,
            kwargs={"autocommit": True},
            check=AsyncConnectionPool.check_connection,
        )
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
