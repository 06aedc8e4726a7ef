"""A person's groups (Microsoft Entra, through Graph), remembered for a while.

A person's groups are fetched once and kept for ``ttl`` seconds; past half of it they are
still used, and fetched again in the background. When they cannot be fetched and nothing
fresh enough is kept, ``Groups.of`` says so (None): the caller closes restricted documents to
that person rather than guess (fail closed). ``Groups.forget`` (forget-me) stops this
replica's refresh and marks the entry, so no lookup in flight on any replica writes the groups
back afterwards (``core.identity.forgetting``).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Protocol

import structlog

from core.identity import forgetting
from core.identity.principals import group_principals

log = structlog.get_logger(__name__)


class GroupDirectory(Protocol):
    """Where groups come from: the ids and display names of every group ``who`` (an Entra
    object id or user principal name) belongs to, directly or through other groups. Raises
    when the directory cannot answer."""

    async def groups(self, who: str) -> list[str]: ...

    async def aclose(self) -> None: ...


def groups_key(who: str) -> str:
    """Where a person's groups are kept (``who``: their Entra object id or email)."""
    return f"groups:{who.strip().lower()}"


class Groups:
    """Cached group principals (``group:<id>`` and ``group:<name>``) per person."""

    def __init__(
        self, directory: GroupDirectory, cache: forgetting.Cache, *, ttl: float = 3600.0,
        timeout: float = 5.0,
    ) -> None:
        self._directory = directory
        self._cache = cache
        self._ttl = ttl
        self._timeout = timeout
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def of(self, who: str) -> tuple[str, ...] | None:
        key = groups_key(who)
        raw, mark = await forgetting.kept_and_mark(self._cache, key)
        if raw is not None:
            entry = json.loads(raw)
            if time.time() - entry["at"] > self._ttl / 2 and key not in self._refreshing:
                self._refreshing[key] = asyncio.create_task(self._refresh(key, who))
            return tuple(entry["groups"])
        try:
            return await asyncio.wait_for(self._fetch(key, who, mark), self._timeout)
        except Exception as exc:  # noqa: BLE001 — any directory trouble closes, never opens
            log.warning("groups_unavailable", error=repr(exc))
            return None

    async def _fetch(self, key: str, who: str, mark: str | None) -> tuple[str, ...]:
        """``who``'s groups from the directory, kept unless forget-me came since ``mark``."""
        found = group_principals(await self._directory.groups(who))
        entry = json.dumps({"at": time.time(), "groups": found})
        await forgetting.keep(self._cache, key, entry, self._ttl, mark)
        return found

    async def forget(self, who: str) -> None:
        """Forget ``who``'s groups (forget-me): a refresh under way here is stopped, and one
        under way on another replica does not write them back."""
        key = groups_key(who)
        task = self._refreshing.pop(key, None)
        if task is not None:
            task.cancel()
        await forgetting.forget(self._cache, key, self._ttl)

    async def _refresh(self, key: str, who: str) -> None:
        try:
            mark = await forgetting.mark_of(self._cache, key)
            await asyncio.wait_for(self._fetch(key, who, mark), self._timeout)
        except Exception as exc:  # noqa: BLE001 — the kept groups stay until their TTL ends
            log.warning("groups_refresh_failed", error=repr(exc))
        finally:
            if self._refreshing.get(key) is asyncio.current_task():
                self._refreshing.pop(key, None)

    async def aclose(self) -> None:
        for task in self._refreshing.values():
            task.cancel()
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)
        await self._directory.aclose()
