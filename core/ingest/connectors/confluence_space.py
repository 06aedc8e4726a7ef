"""Who may view a Confluence space: its "view space" permissions, the widest audience any of
its pages can have (page restrictions only narrow it, ``confluence_permissions``).

- Cloud (``CONFLUENCE_EMAIL`` set): ``GET /api/v2/spaces?keys=KEY`` for the space's id, then
  ``GET /api/v2/spaces/{id}/permissions`` (needs only permission to view the space), keeping
  the ``read``/``space`` assignments. They name people by account id and groups by id:
  ``GET /rest/api/user?accountId=`` gives a person's email (when their profile shows it),
  ``GET /rest/api/group/by-id?id=`` a group's name.
- Data Center 9.1+ (personal access token): ``GET /rest/api/space/{KEY}/permissions`` names
  groups by name and people by user key (``GET /rest/api/user?key=`` for their email).

People count by email, groups as ``group:<name>``; a group named in ``CONFLUENCE_EVERYONE_GROUPS``
(every licensed user, ``confluence-users`` by default) or anonymous access makes the space open
to everyone. Anything else (a role, a person without a visible email) is left out: narrower,
never wider. A space whose permissions cannot be read raises ``SpaceUnreadable``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp

from core.errors import SourceUnavailable
from core.ingest.connectors.base import get_json, request

_MAX_PAGES = 100


class SpaceUnreadable(SourceUnavailable):
    """Who may view the space could not be read; its pages are closed until it can."""


@dataclass
class SpaceAudience:
    """``principals`` None: everyone; else who may view the space. ``handles``: how to ask
    Confluence for each named person's groups (email -> ``accountId=…`` or ``username=…``)."""

    principals: frozenset[str] | None
    handles: dict[str, tuple[str, str]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


def group_principal(name: str) -> str:
    return "group:" + " ".join(name.split()).lower()


class SpacePermissions:
    """Reads one space's view permissions with the connector's session."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, *, cloud: bool,
        everyone_groups: Collection[str], hint: str,
    ) -> None:
        self._session = session
        self._base = base
        self._cloud = cloud
        self._everyone = {group_principal(g) for g in everyone_groups}
        self._hint = hint

    async def audience(self, space: str) -> SpaceAudience:
        what = f"Confluence space {space}'s permissions"
        try:
            if self._cloud:
                return await self._cloud_audience(space, what)
            return await self._data_center_audience(space, what)
        except (SourceUnavailable, KeyError, TypeError, AttributeError, ValueError) as exc:
            status = getattr(exc, "status", None)
            reason = f"HTTP {status}" if status else "an answer of a shape I do not know"
            raise SpaceUnreadable(
                f"Cannot read who may view Confluence space {space} ({reason}). Its pages are "
                "readable by no one here until its permissions can be read: the token's "
                "account needs to view the space (Cloud) or administer it (Data Center 9.1+; "
                "before 9.1, set CONFLUENCE_SPACE_PERMISSIONS=false and give the space its "
                "audience with --allow).",
                status=status,
            ) from exc

    async def _get(self, url: str, what: str, params: dict[str, str] | None = None) -> Any:
        return await get_json(self._session, url, what=what, hint=self._hint, params=params)

    async def _cloud_audience(self, space: str, what: str) -> SpaceAudience:
        found = await self._get(f"{self._base}/api/v2/spaces", what, {"keys": space})
        [entry] = [s for s in found["results"] if s.get("key") == space]
        url: str = f"{self._base}/api/v2/spaces/{entry['id']}/permissions"
        params: dict[str, str] | None = {"limit": "250"}
        audience = SpaceAudience(frozenset())
        named: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = await self._get(url, what, params)
            for grant in page["results"]:
                operation = grant.get("operation") or {}
                if (operation.get("key"), operation.get("targetType")) != ("read", "space"):
                    continue
                principal = grant.get("principal") or {}
                kind, pid = principal.get("type"), str(principal.get("id") or "")
                if kind == "user" and pid:
                    user = await self._get(
                        f"{self._base}/rest/api/user", what, {"accountId": pid}
                    )
                    email = _email(user)
                    if email:
                        named.add(email)
                        audience.handles[email] = ("accountId", pid)
                    else:
                        audience.left_out.append(f"{user.get('displayName') or pid} (no email visible)")
                elif kind == "group" and pid:
                    group = await self._get(
                        f"{self._base}/rest/api/group/by-id", what, {"id": pid}
                    )
                    named.add(group_principal(str(group["name"])))
                else:
                    audience.left_out.append(f"a {kind or 'principal'} {pid}".strip())
            following = (page.get("_links") or {}).get("next")
            if not following:
                break
            url, params = urljoin(self._base + "/", str(following)), None
        return self._close(audience, named)

    async def _data_center_audience(self, space: str, what: str) -> SpaceAudience:
        _, body, _ = await request(
            self._session, "GET", f"{self._base}/rest/api/space/{space}/permissions",
            what=what, hint=self._hint,
        )
        granted = json.loads(body)
        if not isinstance(granted, list):
            raise TypeError("the answer is not a list of permissions")
        audience = SpaceAudience(frozenset())
        named: set[str] = set()
        for grant in granted:
            operation = grant.get("operation") or {}
            if (operation.get("operationKey"), operation.get("targetType")) != ("read", "space"):
                continue
            subject = grant.get("subject") or {}
            kind = subject.get("type")
            if kind == "group" and subject.get("name"):
                named.add(group_principal(str(subject["name"])))
            elif kind == "user" and subject.get("userKey"):
                user = await self._get(
                    f"{self._base}/rest/api/user", what, {"key": str(subject["userKey"])}
                )
                email = _email(user)
                if email and user.get("username"):
                    named.add(email)
                    audience.handles[email] = ("username", str(user["username"]))
                else:
                    audience.left_out.append(f"{subject['userKey']} (no email visible)")
            elif kind == "anonymous":
                return SpaceAudience(None)
            else:
                audience.left_out.append(f"a {kind or 'subject'} grant")
        return self._close(audience, named)

    def _close(self, audience: SpaceAudience, named: set[str]) -> SpaceAudience:
        if named & self._everyone:
            return SpaceAudience(None, audience.handles, audience.left_out)
        audience.principals = frozenset(named)
        return audience

    async def groups_of(self, handle: tuple[str, str]) -> frozenset[str]:
        """A person's Confluence groups, as principals (empty when they cannot be read: the
        person then qualifies only where they are named)."""
        param, value = handle
        url: str = f"{self._base}/rest/api/user/memberof"
        params: dict[str, str] | None = {param: value, "limit": "200"}
        found: set[str] = set()
        try:
            for _ in range(_MAX_PAGES):
                page = await self._get(url, "Confluence group memberships", params)
                found.update(
                    group_principal(str(g["name"])) for g in page["results"] if g.get("name")
                )
                following = (page.get("_links") or {}).get("next")
                if not following:
                    break
                url, params = urljoin(self._base + "/", str(following).lstrip("/")), None
        except (SourceUnavailable, KeyError, TypeError):
            return frozenset()
        return frozenset(found)


def _email(user: Any) -> str | None:
    email = user.get("email") if isinstance(user, dict) else None
    return email.strip().lower() if isinstance(email, str) and "@" in email else None
