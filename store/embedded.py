"""An embedded Postgres 16 with pgvector (the ``pgserver`` package) for laptops and tests."""

from __future__ import annotations

import asyncio
import json
import warnings
from pathlib import Path

import psutil

from core.errors import ConfigurationError, StoreUnavailable

# Postgres listens on a Unix socket inside the data folder; socket paths are limited to
# about 107 bytes, so very deep data folders cannot work.
_MAX_SOCKET_DIR = 90


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that no longer run from pgserver's list of the server's users.

    pgserver stops the server when its last user exits. A user killed with SIGKILL never
    leaves the list, so the next start would count it forever and never stop the server: the
    orphan outlived every later shutdown. Pruning it makes this start adopt the running
    server and stop it when it ends.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [p for p in pids if isinstance(p, int) and _running(p)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _start(pgdata: Path) -> str:
    try:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime folder it does not need here.
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:  # pragma: no cover - depends on the Python version
        raise ConfigurationError(
            "The embedded Postgres (pgserver) is not installed for this Python; it ships "
            "wheels for CPython 3.9-3.12 only. Set DATABASE_URL to a Postgres 16 server with "
            "pgvector instead."
        ) from exc
    pgdata.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(pgdata)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:
        raise StoreUnavailable(
            f"Could not start the embedded Postgres in {pgdata}: {exc}. "
            "Set DATABASE_URL to use another server."
        ) from exc
    return str(server.get_uri())


async def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded server under ``data_dir/pgdata``; return its URL."""
    pgdata = (data_dir / "pgdata").resolve()
    if len(str(pgdata)) > _MAX_SOCKET_DIR:
        raise ConfigurationError(
            f"The data folder path {pgdata} is too long for Postgres' socket; set "
            "SWITCHBOARD_DATA_DIR to a shorter path or DATABASE_URL to another server."
        )
    return await asyncio.to_thread(_start, pgdata)
