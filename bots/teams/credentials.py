"""The bot's own token for calls to the Bot Connector, from Microsoft Entra ID through msal.

Three ways, chosen by the settings: a client secret or a certificate (single-tenant apps name
their tenant; the deprecated multi-tenant kind uses ``botframework.com``), or a user-assigned
managed identity. msal is synchronous, so it runs in a thread; the token is kept until five
minutes before it expires, so nearly every call costs nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from msrest.pipeline import AsyncHTTPPolicy, Request, Response, SansIOHTTPPolicy

from bots.teams.settings import TeamsSettings
from core.errors import ConfigurationError
from core.settings import Settings

SCOPE = "https://api.botframework.com/.default"
MULTI_TENANT = "botframework.com"
_EARLY_S = 300


class TokenSource(Protocol):
    """Returns ``(access_token, expires_in_seconds)``; blocking, so called in a thread."""

    def acquire(self) -> tuple[str, float]: ...


def _checked(result: dict[str, Any] | None) -> tuple[str, float]:
    if not result or "access_token" not in result:
        error = (result or {}).get("error", "no_token")
        detail = (result or {}).get("error_description", "")
        raise PermissionError(
            f"Microsoft Entra ID gave no token for the bot: {error} {detail}".strip()
        )
    return str(result["access_token"]), float(result.get("expires_in", 3600))


class ClientTokenSource:
    """Client credentials (secret or certificate) for one app registration."""

    def __init__(self, app_id: str, credential: str | dict[str, str], authority: str) -> None:
        self._app_id = app_id
        self._credential = credential
        self._authority = authority
        self._app: msal.ConfidentialClientApplication | None = None

    def acquire(self) -> tuple[str, float]:
        if self._app is None:
            # Built on first use, in the caller's thread: msal looks the authority up over HTTP.
            self._app = msal.ConfidentialClientApplication(
                client_id=self._app_id,
                client_credential=self._credential,
                authority=self._authority,
                # Instance discovery asks login.microsoftonline.com about the authority's host;
                # well-known hosts need no asking and a private one (tests) cannot be asked.
                instance_discovery=False,
            )
        return _checked(self._app.acquire_token_for_client(scopes=[SCOPE]))


class ManagedIdentityTokenSource:
    """A user-assigned managed identity whose client id is the bot's app id."""

    def __init__(self, app_id: str) -> None:
        self._client = msal.ManagedIdentityClient(
            msal.UserAssignedManagedIdentity(client_id=app_id), http_client=requests.Session()
        )

    def acquire(self) -> tuple[str, float]:
        return _checked(
            self._client.acquire_token_for_client(resource=SCOPE.removesuffix("/.default"))
        )


def certificate_credential(pem: bytes) -> dict[str, str]:
    """msal's certificate credential from one PEM file holding the private key and the cert."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            "MICROSOFT_APP_CERTIFICATE_PATH must be a PEM file with the private key "
            f"(unencrypted) and the certificate: {exc}"
        ) from exc
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "private_key": private_pem.decode("ascii"),
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper(),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def token_source(core: Settings) -> TokenSource | None:
    """The token source the settings describe; None in anonymous local mode (no app id)."""
    settings = TeamsSettings.of(core)
    app_id = settings.microsoft_app_id
    if not app_id:
        return None
    if settings.microsoft_app_type == "UserAssignedMSI":
        return ManagedIdentityTokenSource(app_id)
    if settings.microsoft_app_type == "SingleTenant":
        if not settings.microsoft_app_tenant_id:
            raise ConfigurationError(
                "MICROSOFT_APP_TENANT_ID is required for a single-tenant bot "
                "(or set MICROSOFT_APP_TYPE=UserAssignedMSI for a managed identity)."
            )
        tenant = settings.microsoft_app_tenant_id
    else:
        tenant = settings.microsoft_app_tenant_id or MULTI_TENANT
    authority = f"{core.entra_authority_host.rstrip('/')}/{tenant}"
    credential: str | dict[str, str]
    if settings.microsoft_app_certificate is not None:
        try:
            pem = settings.microsoft_app_certificate.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"Cannot read MICROSOFT_APP_CERTIFICATE_PATH: {exc}") from exc
        credential = certificate_credential(pem)
    elif settings.microsoft_app_password is not None:
        credential = settings.microsoft_app_password.get_secret_value()
    else:
        raise ConfigurationError(
            "MICROSOFT_APP_ID is set but neither MICROSOFT_APP_PASSWORD nor "
            "MICROSOFT_APP_CERTIFICATE_PATH is; set one, or MICROSOFT_APP_TYPE=UserAssignedMSI."
        )
    return ClientTokenSource(app_id, credential, authority)


class BotToken:
    """The current token, refreshed in a thread shortly before it expires."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                token, expires_in = await asyncio.to_thread(self._source.acquire)
                self._token = token
                self._expires_at = time.monotonic() + max(expires_in - _EARLY_S, 30)
        return self._token


class BearerTokenPolicy(AsyncHTTPPolicy):
    """msrest pipeline step that signs each Bot Connector call with the bot's token."""

    def __init__(self, token: BotToken) -> None:
        super().__init__()
        self._token = token

    async def send(self, request: Request, **kwargs: Any) -> Response:
        request.http_request.headers["Authorization"] = f"Bearer {await self._token.get()}"
        return await self.next.send(request, **kwargs)  # type: ignore[union-attr]


class NoCredentials(SansIOHTTPPolicy):
    """Anonymous local mode: calls go out unsigned (the Agents Playground expects that)."""
