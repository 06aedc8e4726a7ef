"""People's Entra groups from Microsoft Graph (``/users/{id}/transitiveMemberOf``), with an
app token (msal client credentials, the SharePoint connector's app registration).

The app needs the ``GroupMember.Read.All`` application permission (or ``Directory.Read.All``)
with admin consent (docs/knowledge.md).
"""

from __future__ import annotations

import ssl
from urllib.parse import quote

import aiohttp

from core.ingest.connectors.base import get_json
from core.ingest.connectors.graph_token import GraphAppToken

_HINT = (
    "Check SHAREPOINT_TENANT_ID, SHAREPOINT_CLIENT_ID and SHAREPOINT_CLIENT_SECRET, and that the "
    "app has the GroupMember.Read.All application permission with admin consent."
)
_MAX_PAGES = 50


class GraphGroups:
    """A ``core.identity.groups.GroupDirectory`` over Microsoft Graph."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        graph_url: str = "https://graph.microsoft.com/v1.0",
        authority_host: str = "https://login.microsoftonline.com",
        timeout: float = 10.0,
        ca_file: str | None = None,
    ) -> None:
        self._graph = graph_url.rstrip("/")
        self._token = GraphAppToken(
            tenant_id=tenant_id, client_id=client_id, client_secret=client_secret,
            authority_host=authority_host, timeout=timeout, ca_file=ca_file, hint=_HINT,
        ).get
        self._timeout = timeout
        self._ca_file = ca_file
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            context = ssl.create_default_context(cafile=self._ca_file) if self._ca_file else None
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(ssl=context) if context else None,
            )
        return self._session

    async def groups(self, who: str) -> list[str]:
        """Every group's id and display name, through nested groups too."""
        headers = {"Authorization": f"Bearer {await self._token()}"}
        url = f"{self._graph}/users/{quote(who, safe='@.')}/transitiveMemberOf/microsoft.graph.group"
        params: dict[str, str] | None = {"$select": "id,displayName", "$top": "999"}
        found: list[str] = []
        for _ in range(_MAX_PAGES):
            page = await get_json(
                self._http(), url, what="Graph group memberships", hint=_HINT,
                headers=headers, params=params,
            )
            for entry in page.get("value") or ():
                found.extend(str(entry[k]) for k in ("id", "displayName") if entry.get(k))
            params = None
            url = str(page.get("@odata.nextLink") or "")
            if not url:
                break
        return found

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
