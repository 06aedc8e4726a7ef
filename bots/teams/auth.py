"""Who may post to ``/api/messages``: Bot Connector JWT validation, or anonymous local mode.

Every request from the Bot Connector carries ``Authorization: Bearer <JWT>``. It is valid when
it is signed by a key published in the Bot Framework OpenID metadata (endorsed for the
activity's channel), issued by ``https://api.botframework.com``, addressed to our app id, not
expired (five minutes of clock skew allowed), and its ``serviceurl`` claim is the activity's
``serviceUrl``. Anything else is a ``PermissionError``, which the route answers with 401.

botframework-connector has a validator too, but it fetches the metadata with blocking
``requests`` calls on the event loop and keeps its metadata URL in class attributes; this one
fetches with aiohttp, caches the keys, and takes its URL from the settings.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import structlog
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
)
from jwt.algorithms import RSAAlgorithm

from bots.loopback import is_loopback_url

log = structlog.get_logger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512")
CLOCK_SKEW_S = 300
CONNECTOR_SCOPE = "https://api.botframework.com"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One published key and the channels it may sign for (empty: any)."""

    key: Any
    endorsements: tuple[str, ...]


class OpenIdKeys:
    """The signing keys listed by an OpenID metadata document, fetched with aiohttp and cached.

    Keys are refreshed once a day, and early when a token names a key we do not have (at most
    once every five minutes, so forged key ids cannot make us hammer the metadata endpoint).
    """

    def __init__(
        self,
        metadata_url: str,
        session: aiohttp.ClientSession,
        *,
        max_age_s: float = 24 * 3600,
        min_refresh_s: float = 300,
    ) -> None:
        self._url = metadata_url
        self._session = session
        self._max_age = max_age_s
        self._min_refresh = min_refresh_s
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> SigningKey | None:
        now = time.monotonic()
        stale = now - self._fetched_at > self._max_age
        unknown = kid not in self._keys and now - self._fetched_at > self._min_refresh
        if stale or unknown:
            await self._refresh(self._fetched_at)
        return self._keys.get(kid)

    async def _refresh(self, seen: float) -> None:
        async with self._lock:
            if self._fetched_at != seen:
                return  # another request refreshed while we waited
            try:
                timeout = aiohttp.ClientTimeout(total=10)
                async with self._session.get(self._url, timeout=timeout) as response:
                    response.raise_for_status()
                    metadata = await response.json(content_type=None)
                async with self._session.get(metadata["jwks_uri"], timeout=timeout) as response:
                    response.raise_for_status()
                    jwks = await response.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError, KeyError, ValueError) as exc:
                # Keep the keys we have: a metadata outage must not lock every user out. With
                # none yet (a start during an outage), try again soon rather than in minutes.
                log.warning("teams_openid_refresh_failed", url=self._url, error=str(exc))
                retry_in = self._min_refresh if self._keys else min(self._min_refresh, 10.0)
                self._fetched_at = time.monotonic() - self._max_age + retry_in
                return
            keys = {}
            for jwk in jwks.get("keys", []):
                if jwk.get("kty") != "RSA" or "kid" not in jwk:
                    continue
                keys[jwk["kid"]] = SigningKey(
                    key=RSAAlgorithm.from_jwk(json.dumps(jwk)),
                    endorsements=tuple(jwk.get("endorsements") or ()),
                )
            self._keys = keys
            self._fetched_at = time.monotonic()
            log.info("teams_openid_keys_loaded", count=len(keys))


class ConnectorTokenValidator:
    """Checks one Bot Connector token against one activity; returns its claims."""

    def __init__(self, keys: OpenIdKeys, *, app_id: str, issuer: str) -> None:
        self._keys = keys
        self._app_id = app_id
        self._issuer = issuer

    async def validate(self, auth_header: str, activity: Activity) -> dict[str, Any]:
        scheme, _, token = (auth_header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise PermissionError("no bearer token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise PermissionError(f"malformed token: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise PermissionError(f"signing algorithm {algorithm!r} is not allowed")
        signing = await self._keys.get(str(header.get("kid", "")))
        if signing is None:
            raise PermissionError("token signed with an unknown key")
        channel = activity.channel_id or ""
        if signing.endorsements and channel not in signing.endorsements:
            raise PermissionError(f"signing key is not endorsed for channel {channel!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                signing.key,
                algorithms=[algorithm],
                audience=self._app_id,
                issuer=self._issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise PermissionError(f"invalid token: {exc}") from exc
        if claims.get(AuthenticationConstants.SERVICE_URL_CLAIM) != activity.service_url:
            raise PermissionError("serviceurl claim does not match the activity's serviceUrl")
        return claims


class BotConnectorAuthentication(BotFrameworkAuthentication):
    """botbuilder's authentication seam: validates incoming requests (or lets everything in,
    in anonymous local mode) and hands out the connector factory for outgoing calls."""

    def __init__(
        self,
        *,
        validator: ConnectorTokenValidator | None,
        connectors: ConnectorFactory,
        app_id: str | None,
    ) -> None:
        self._validator = validator
        self._connectors = connectors
        self._app_id = app_id or ""

    @property
    def anonymous(self) -> bool:
        return self._validator is None

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        if self._validator is None:
            # Anonymous local mode answers the Agents Playground on this machine only: a
            # caller naming another serviceUrl would have us post answers wherever it likes.
            if not is_loopback_url(activity.service_url):
                raise PermissionError(
                    "anonymous local mode replies only to a serviceUrl on this machine"
                )
            claims: Mapping[str, Any] = {}
            identity = ClaimsIdentity(
                dict(claims), True, AuthenticationConstants.ANONYMOUS_AUTH_TYPE
            )
        else:
            claims = await self._validator.validate(auth_header, activity)
            identity = ClaimsIdentity(dict(claims), True)
        result = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = CONNECTOR_SCOPE
        result.caller_id = None
        result.connector_factory = self._connectors
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        raise PermissionError("web socket streaming connections are not accepted")

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._connectors

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> None:
        return None  # no user sign-in (OAuth cards) in this bot

    def get_originating_audience(self) -> str:
        return CONNECTOR_SCOPE

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        raise PermissionError("skill channel requests are not accepted")
