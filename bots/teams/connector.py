"""Outgoing Bot Connector calls: botframework's ConnectorClient over one shared aiohttp session.

The stock ConnectorClient sends with ``requests`` in the default thread pool, which caps a
replica at a handful of calls in flight (the pool has ``cpu + 4`` threads) and signs each call
with a blocking msal lookup. Here the same client runs on an msrest sender backed by an
aiohttp session, the bot's token comes from ``BearerTokenPolicy``, and activities are written
to JSON by ``bots.teams.wire`` where msrest's generic walk is not needed.
"""

from __future__ import annotations

import re
from typing import Any, Self

import aiohttp
from botframework.connector import AsyncBfPipeline, BotFrameworkConnectorConfiguration
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import ConnectorFactory
from msrest.pipeline import AsyncHTTPSender, HTTPPolicy, Request, Response, SansIOHTTPPolicy
from msrest.universal_http.async_abc import AsyncClientResponse
from multidict import CIMultiDict

from bots.teams.wire import ActivitySerializer
from core.metrics import Metrics

USER_AGENT = "Switchboard (botbuilder-python)"
_REPLY = re.compile(r"/v3/conversations/[^/]+/activities/[^/]+$")
_SEND = re.compile(r"/v3/conversations/[^/]+/activities$")


def operation(method: str, url: str) -> str:
    """The Bot Connector operation a request is, named as in its REST reference."""
    path = url.split("?", 1)[0]
    if method == "PUT" and _REPLY.search(path):
        return "updateActivity"
    if method == "DELETE" and _REPLY.search(path):
        return "deleteActivity"
    if method == "POST" and _REPLY.search(path):
        return "replyToActivity"
    if method == "POST" and _SEND.search(path):
        return "sendToConversation"
    if method == "POST" and path.endswith("/v3/conversations"):
        return "createConversation"
    return "other"


class _LoadedResponse(AsyncClientResponse):
    """A response whose body has already been read, as msrest's deserializers expect."""

    def __init__(self, request: Any, status: int, headers: Any, reason: str, body: bytes) -> None:
        super().__init__(request, None)
        # msrest's HttpOperationError keeps ``internal_response`` as the error's response.
        self.internal_response = self
        self.status_code = status
        self.headers = CIMultiDict(headers)
        self.reason = reason
        self._body = body

    def body(self) -> bytes:
        return self._body


class SessionSender(AsyncHTTPSender):
    """msrest's last pipeline step, sending on an aiohttp session the Teams app owns."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float = 30,
        metrics: Metrics | None = None,
    ) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._metrics = metrics

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_details: object) -> None:
        return None  # the session outlives every client

    def build_context(self) -> None:
        return None

    async def send(self, request: Request, **config: Any) -> Response:
        http = request.http_request
        async with self._session.request(
            http.method,
            http.url,
            headers=dict(http.headers),
            data=http.data,
            timeout=self._timeout,
        ) as raw:
            body = await raw.read()
            loaded = _LoadedResponse(http, raw.status, raw.headers, raw.reason or "", body)
        if self._metrics is not None:
            outcome = "ok" if raw.status < 400 else "ratelimited" if raw.status == 429 else "error"
            self._metrics.platform_calls.labels(
                platform="teams", method=operation(http.method, http.url), outcome=outcome
            ).inc()
        return Response(request, loaded)


class TeamsConnectorFactory(ConnectorFactory):
    """Hands botbuilder a ConnectorClient for a service URL, signed with the bot's token.

    Clients hold no per-conversation state, so one per service URL (Teams uses a handful, one
    per region) serves every turn; building one costs milliseconds of msrest set-up.
    """

    def __init__(
        self, sender: SessionSender, credentials: HTTPPolicy | SansIOHTTPPolicy | Any
    ) -> None:
        self._sender = sender
        self._credentials = credentials
        self._clients: dict[str, ConnectorClient] = {}

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        client = self._clients.get(service_url)
        if client is None:
            config = BotFrameworkConnectorConfiguration(
                self._credentials,
                service_url,
                pipeline_type=AsyncBfPipeline,
                sender=self._sender,
            )
            config.add_user_agent(USER_AGENT)
            client = ConnectorClient(self._credentials, custom_configuration=config)
            # Building the client also built msrest's default (requests-based) pipeline around
            # the same credentials policy, which re-linked that policy's ``next`` into it: every
            # signed call then left through ``requests`` in a thread, not this sender. Building
            # our pipeline again, last, links the policy back to it.
            client._client.config.pipeline = AsyncBfPipeline(config)
            # Activities are written to JSON directly where that gives msrest's own output.
            serializer = ActivitySerializer(client._serialize.dependencies)
            client._serialize = client.conversations._serialize = serializer
            client.attachments._serialize = serializer
            if len(self._clients) < 64:  # service URLs come from signed activities; still bounded
                self._clients[service_url] = client
        return client
