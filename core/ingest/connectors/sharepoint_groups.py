"""Who is in a SharePoint site group ("HR Members"), from SharePoint's own REST API.

Graph names a site group in an item's permissions (``grantedToV2.siteGroup``: a number unique
within the site, and a name) but has no call that lists its members. SharePoint's REST API
does: ``GET {site}/_api/web/sitegroups/GetById({id})/users``. It accepts an app's sign-in only
with a certificate (not the client secret), for the resource ``https://{tenant}.sharepoint.com``
(``SHAREPOINT_CERT_FILE``, docs/knowledge.md).

A member counts as:
- a person: their email (``Email``, else the tail of ``i:0#.f|membership|alice@contoso.com``);
- an Entra security group (``c:0t.c|tenant|<id>``) or a Microsoft 365 group's members
  (``c:0o.c|federateddirectoryclaimprovider|<id>``): ``group:<id>``;
- "Everyone" / "Everyone except external users": everyone;
- a Microsoft 365 group's *owners* (``…|<id>_o``) and anything else: left out (narrower).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import structlog

from core.errors import ConfigurationError, SourceUnavailable
from core.ingest.connectors.base import get_json
from core.ingest.connectors.permissions import EVERYONE, Mirrored

log = structlog.get_logger(__name__)

_EVERYONE_CLAIMS = ("spo-grid-all-users", "c:0(.s|true")
_GROUP_CLAIM = re.compile(r"^c:0[ot]\.c\|[^|]+\|([0-9a-f-]{36})$", re.IGNORECASE)
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


def certificate_credential(path: Path) -> dict[str, str]:
    """msal's certificate credential from one PEM file holding the private key and the
    certificate registered on the app."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigurationError(f"SHAREPOINT_CERT_FILE {path} cannot be read: {exc}") from exc
    blocks = {m.group(1): m.group(0) for m in _PEM.finditer(text)}
    key = next((b for kind, b in blocks.items() if kind.endswith("PRIVATE KEY")), None)
    certificate = blocks.get("CERTIFICATE")
    if key is None or certificate is None:
        raise ConfigurationError(
            f"SHAREPOINT_CERT_FILE {path} must hold the private key and the certificate (PEM)."
        )
    return {"private_key": key, "public_certificate": certificate}


def resource_of(site_url: str) -> str:
    """The token scope for a site's REST API: its host's ``/.default``."""
    parts = urlsplit(site_url)
    return f"{parts.scheme}://{parts.netloc}/.default"


def member_principal(member: Any) -> str | None:
    """An email, ``group:<id>``, ``everyone``, or None (left out)."""
    if not isinstance(member, dict):
        return None
    login = str(member.get("LoginName") or "")
    if any(claim in login for claim in _EVERYONE_CLAIMS):
        return "everyone"
    if (match := _GROUP_CLAIM.match(login)) is not None:
        return "group:" + match.group(1).lower()
    email = member.get("Email") or login.rsplit("|", 1)[-1]
    if login.startswith("i:0#.f|") and isinstance(email, str) and "@" in email:
        return email.strip().lower()
    return None


class SiteGroupMembers:
    """The members of one site's groups, each read once a listing (``reset``)."""

    def __init__(
        self, session: aiohttp.ClientSession, site_url: str,
        token: Callable[[], Awaitable[str]],
    ) -> None:
        self._session = session
        self._site = site_url.rstrip("/")
        self._token = token
        self._read: dict[str, asyncio.Future[Mirrored | None]] = {}

    def reset(self) -> None:
        self._read = {}

    async def members(self, group_id: str, name: str) -> Mirrored | None:
        """Who is in the group; None when they cannot be read (the caller reports it)."""
        if group_id not in self._read:
            self._read[group_id] = asyncio.ensure_future(self._members(group_id, name))
        return await self._read[group_id]

    async def _members(self, group_id: str, name: str) -> Mirrored | None:
        url = f"{self._site}/_api/web/sitegroups/GetById({quote(group_id)})/users"
        try:
            headers = {
                "Authorization": f"Bearer {await self._token()}",
                "Accept": "application/json;odata=nometadata",
            }
            page = await get_json(
                self._session, url, what=f"SharePoint site group {name!r}", headers=headers
            )
            listed = page["value"]
            if not isinstance(listed, list):
                raise TypeError("value is not a list")
        except (SourceUnavailable, KeyError, TypeError) as exc:
            log.warning("sharepoint_site_group_unreadable", group=name, error=str(exc))
            return None
        found: set[str] = set()
        left_out: list[str] = []
        for member in listed:
            principal = member_principal(member)
            if principal == "everyone":
                return EVERYONE
            if principal is None:
                left_out.append(str(member.get("Title") or member.get("LoginName") or "?")
                                if isinstance(member, dict) else "?")
            else:
                found.add(principal)
        if left_out:
            log.warning("sharepoint_site_group_left_out", group=name, left_out=left_out)
        return Mirrored.of(found)
