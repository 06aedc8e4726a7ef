"""People's Entra groups from Microsoft Graph (``/users/{id}/transitiveMemberOf``), with an
app token (msal client credentials, the SharePoint connector's app registration).

The app needs the ``GroupMember.Read.All`` application permission (or ``Directory.Read.All``)
with admin consent (docs/knowledge.md).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import Any
from urllib.parse import quote

import aiohttp
import msal
import requests

from core.errors import SourceUnavailable
from core.ingest.connectors.base import get_json

_SCOPE = "https://graph.microsoft.com/.default"
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
        self._credentials = (client_id, client_secret, f"{authority_host.rstrip('/')}/{tenant_id}")
        self._timeout = timeout
        self._ca_file = ca_file
        self._app: msal.ConfidentialClientApplication | None = None
        self._session: aiohttp.ClientSession | None = None

    def _acquire(self) -> dict[str, Any]:
        if self._app is None:
            client_id, secret, authority = self._credentials
            http = requests.Session()
            http.request = functools.partial(  # type: ignore[method-assign]
                http.request, timeout=self._timeout, verify=self._ca_file or True
            )
            self._app = msal.ConfidentialClientApplication(
                client_id, client_credential=secret, authority=authority,
                instance_discovery=False, http_client=http,
            )
        return self._app.acquire_token_for_client(scopes=[_SCOPE])

    async def _token(self) -> str:
        # msal blocks (HTTP through requests): off the event loop. It caches the app token.
        try:
            result = await asyncio.to_thread(self._acquire)
        except Exception as exc:
            self._app = None  # the metadata fetch may have failed: try afresh next time
            raise SourceUnavailable(f"Cannot sign in to Microsoft Entra: {exc!r}") from exc
        token = result.get("access_token")
        if not token:
            reason = result.get("error_description") or result.get("error") or "no token"
            raise SourceUnavailable(f"Microsoft Entra refused the app's sign-in: {reason}")
        return str(token)

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
