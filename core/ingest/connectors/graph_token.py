"""The app's own Microsoft Graph token: msal's client-credentials flow, off the event loop.

Shared by the SharePoint/OneDrive connector and the Entra group lookup (core/identity/graph.py),
which sign in as the same app registration.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import msal
import requests

from core.errors import SourceUnavailable

SCOPE = "https://graph.microsoft.com/.default"


class GraphAppToken:
    """An app token for Graph, cached by msal until it expires. ``hint`` ends the message of a
    refused sign-in (which settings and permission to check). ``certificate`` (msal's
    ``{"private_key": …, "public_certificate": …}``) signs in with a certificate instead of
    the secret; ``scope`` asks for another resource (SharePoint's own REST API accepts only
    certificate sign-ins)."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        authority_host: str = "https://login.microsoftonline.com",
        timeout: float = 30.0,
        ca_file: str | None = None,
        hint: str = "",
        certificate: dict[str, str] | None = None,
        scope: str = SCOPE,
    ) -> None:
        credential: str | dict[str, str] = certificate or client_secret
        self._credentials = (client_id, credential, f"{authority_host.rstrip('/')}/{tenant_id}")
        self._scope = scope
        self._timeout = timeout
        self._ca_file = ca_file
        self._hint = hint
        self._app: msal.ConfidentialClientApplication | None = None

    def _acquire(self) -> dict[str, Any]:
        if self._app is None:
            client_id, credential, authority = self._credentials
            http = requests.Session()
            # Per request, because requests lets REQUESTS_CA_BUNDLE override a session's verify.
            http.request = functools.partial(  # type: ignore[method-assign]
                http.request, timeout=self._timeout, verify=self._ca_file or True
            )
            # The constructor already fetches the tenant's metadata over HTTP.
            self._app = msal.ConfidentialClientApplication(
                client_id,
                client_credential=credential,
                authority=authority,
                # Discovery asks the public cloud's host; the tenant's own metadata suffices.
                instance_discovery=False,
                http_client=http,
            )
        return self._app.acquire_token_for_client(scopes=[self._scope])

    async def get(self) -> str:
        """The token; raises ``SourceUnavailable`` when Entra cannot be reached or refuses."""
        # msal blocks (HTTP through requests): off the event loop.
        try:
            result = await asyncio.to_thread(self._acquire)
        except Exception as exc:  # msal raises ValueError, requests errors, RuntimeError
            self._app = None  # the metadata fetch may have failed: try afresh next time
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SourceUnavailable(f"Cannot sign in to Microsoft Entra: {reason}") from exc
        token = result.get("access_token")
        if not token:
            reason = result.get("error_description") or result.get("error") or "no token"
            raise SourceUnavailable(
                f"Microsoft Entra refused the app's sign-in: {str(reason).splitlines()[0]} "
                f"{self._hint}".strip(),
                status=401,
            )
        return str(token)
