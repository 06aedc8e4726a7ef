"""Confluence spaces through the REST API (``/rest/api/content``), Cloud and Data Center.

Pages are listed with their version numbers only; a page whose version is already indexed
is not downloaded again. The page's body (storage format, XHTML) is read as HTML. Each listing
also records who may read each page: who may view the space (``confluence_space``), narrowed
by its and its ancestors' read restrictions (``confluence_permissions``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import structlog

from core.errors import SourceUnavailable
from core.ingest.connectors.base import RemoteItem, get_json
from core.ingest.connectors.confluence_permissions import (
    EXPAND,
    Handle,
    Level,
    own_readers,
    page_levels,
    readers,
)
from core.ingest.connectors.confluence_space import (
    SpaceAudience,
    SpacePermissions,
    SpaceUnreadable,
)
from core.ingest.connectors.permissions import NO_ONE, PermissionSink, record, require
from core.ingest.documents import LoadedDocument
from core.ingest.loaders import KNOWN_DOMAINS, load_bytes

log = structlog.get_logger(__name__)

_PAGE = 50
_MAX_PAGES = 20_000
_HINT = "Check CONFLUENCE_TOKEN (and CONFLUENCE_EMAIL for Confluence Cloud)."


class ConfluenceSpace:
    """The current pages of one Confluence space.

    With ``email`` the token is a Cloud API token sent as basic auth; without it, a Data
    Center personal access token sent as a bearer token. ``base_url`` is the wiki's root
    (``https://example.atlassian.net/wiki`` on Cloud). ``everyone_groups``: Confluence groups
    that hold every licensed user; a space or page open to one of them is open to everyone.
    ``space_permissions`` False: who may view the space is not read (Data Center before 9.1
    cannot say); the audience given to the space with ``--allow`` is then its only bound.
    """

    kind = "confluence"

    def __init__(
        self,
        *,
        base_url: str,
        space: str,
        token: str,
        email: str | None = None,
        domain: str | None = None,
        timeout: float = 30.0,
        everyone_groups: Sequence[str] = ("confluence-users",),
        space_permissions: bool = True,
    ) -> None:
        self._read_space = space_permissions
        self._base = base_url.rstrip("/")
        self._everyone_groups = tuple(everyone_groups)
        self._space = space
        self._domain = domain or (space.lower() if space.lower() in KNOWN_DOMAINS else None)
        if email:
            basic = base64.b64encode(f"{email}:{token}".encode()).decode()
            auth = f"Basic {basic}"
        else:
            auth = f"Bearer {token}"
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"Authorization": auth, "Accept": "application/json"},
        )
        self._space_permissions = SpacePermissions(
            self._session, self._base, cloud=bool(email), everyone_groups=self._everyone_groups,
            hint=_HINT,
        )
        self.scope = f"confluence:{urlsplit(self._base).netloc}:{space}:"
        self.gone: list[str] = []
        self.failed: list[tuple[str, str]] = []
        # Where each listing records who may read each page (``permissions.mirror_into``).
        self.permissions: PermissionSink | None = None

    async def list(self) -> list[RemoteItem]:
        require(self.permissions, f"Confluence space {self._space}")
        items: list[RemoteItem] = []
        own: dict[str, Level] = {}
        ancestors: dict[str, list[str]] = {}
        handles: dict[str, Handle] = {}
        start = 0
        while True:
            page = await get_json(
                self._session,
                f"{self._base}/rest/api/content",
                what=f"Confluence space {self._space}",
                hint=_HINT,
                params={
                    "spaceKey": self._space,
                    "type": "page",
                    "status": "current",
                    "expand": f"version,{EXPAND}",
                    "limit": str(_PAGE),
                    "start": str(start),
                },
            )
            results = page.get("results")
            if not isinstance(results, list):
                raise SourceUnavailable(
                    f"Confluence answered a listing of space {self._space} without results; "
                    "nothing was changed."
                )
            for entry in results:
                item = self._item(entry)
                items.append(item)
                page_id = item.uri.rsplit(":", 1)[1]
                own[page_id], left_out = own_readers(
                    entry, self._space, self._everyone_groups, handles
                )
                if left_out:
                    log.warning("confluence_restrictions_left_out", page=item.name, left_out=left_out)
                ancestors[page_id] = [
                    str(a.get("id")) for a in entry.get("ancestors") or () if isinstance(a, dict)
                ]
            if len(items) > _MAX_PAGES:
                raise SourceUnavailable(f"Space {self._space} holds over {_MAX_PAGES} pages.")
            links = page.get("_links") or {}
            if not results or not links.get("next"):
                break
            start += len(results)
        what = f"Confluence space {self._space}"
        try:
            space = (
                await self._space_permissions.audience(self._space) if self._read_space
                else SpaceAudience(None)
            )
        except SpaceUnreadable:
            # Closed, not left as they were: they may have been mirrored open before.
            await record(self.permissions, self.scope, {i.uri: NO_ONE for i in items}, what)
            raise
        if space.left_out:
            log.warning("confluence_space_permissions_left_out", space=self._space,
                        left_out=space.left_out)
        handles = {**space.handles, **handles}
        memberships: dict[str, asyncio.Future[frozenset[str]]] = {}

        async def groups_of(email: str) -> frozenset[str]:
            handle = handles.get(email)
            if handle is None:
                return frozenset()
            if email not in memberships:
                memberships[email] = asyncio.ensure_future(
                    self._space_permissions.groups_of(handle)
                )
            return await memberships[email]

        found = {}
        for item in items:
            pid = item.uri.rsplit(":", 1)[1]
            levels = page_levels(pid, ancestors[pid], own)
            if levels is not None and space.principals is not None:
                levels = [space.principals, *levels]
            found[item.uri] = await readers(levels, groups_of)
        await record(self.permissions, self.scope, found, what)
        return items

    def _item(self, entry: Any) -> RemoteItem:
        try:
            page_id = str(entry["id"])
            version = str(entry["version"]["number"])
            title = str(entry["title"])
        except (KeyError, TypeError) as exc:
            raise SourceUnavailable(
                f"Confluence listed a page without an id, title or version ({exc}); "
                "nothing was changed."
            ) from exc
        webui = (entry.get("_links") or {}).get("webui")
        url = urljoin(self._base + "/", str(webui).lstrip("/")) if webui else None
        return RemoteItem(uri=f"{self.scope}{page_id}", name=title, version=version, url=url)

    async def fetch(self, item: RemoteItem, *, salt: str) -> LoadedDocument:
        page_id = item.uri.rsplit(":", 1)[1]
        page = await get_json(
            self._session,
            f"{self._base}/rest/api/content/{page_id}",
            what=f"Confluence page {item.name!r}",
            hint=_HINT,
            params={"expand": "body.storage,version"},
        )
        try:
            html = str(page["body"]["storage"]["value"])
        except (KeyError, TypeError) as exc:
            raise SourceUnavailable(f"Confluence page {item.name!r} came without a body.") from exc
        title = f"<title>{_escape(item.name)}</title>"
        wrapped = f"<html><head>{title}</head><body>{html}</body></html>"
        document = load_bytes(wrapped.encode(), f"{self._space}/{page_id}.html", salt=salt)
        document.title = item.name
        document.uri = item.uri
        document.url = item.url
        document.path = None
        document.source = self.kind
        document.domain = self._domain or "general"
        return document

    async def aclose(self) -> None:
        await self._session.close()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
