"""A streamed chat request sent straight through aiohttp, for an OpenAI-compatible endpoint
reached with a fixed API key.

Through the SDK's ``post``, each question's request passes its option, URL and header merging,
an httpx request, the auth retry and the transport under it: about 0.4 ms of CPU a request
against a local server, and 1.7 ms of every answer in a py-spy profile of a replica answering
2,000 at once (docs/benchmarks.md, round twelve). The request sent here is the same one: the
client's own base URL and headers (its key, organisation, project and identification headers,
read once), the same JSON body, the client's connect timeout and no read timeout (the caller
times the first text and every silence). Azure OpenAI keeps the SDK's path, for its
deployment URLs and its token providers.
"""

from __future__ import annotations

import json
from typing import Any, Self

import aiohttp
from openai import AsyncAzureOpenAI, AsyncOpenAI, Timeout

from core.llm.chat_stream import ChatStream
from core.llm.endpoint import EndpointRefused, translate

# As many connections as the SDK's own pool allows: a burst holds one for every answer it
# streams (at most ``SLACK_MAX_ANSWERS`` a replica).
_CONNECTIONS = 1000
_JSON_HEADERS = {"Content-Type": "application/json"}


class ChatPost:
    """Opens streamed chat completions for one endpoint. ``aclose()`` closes its connections."""

    def __init__(self, url: str, headers: dict[str, str], *, connect_timeout: float | None) -> None:
        self.url = url
        self._headers = {**headers, **_JSON_HEADERS}
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=None
        )
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_client(cls, client: AsyncOpenAI) -> Self | None:
        """The direct path for ``client``, or None where only the SDK knows the way: Azure's
        deployment URLs, or a key the SDK fetches itself (a provider, workload identity)."""
        auth = client.auth_headers
        if isinstance(client, AsyncAzureOpenAI) or "Authorization" not in auth:
            return None
        headers = {
            name: value for name, value in {**client.default_headers, **auth}.items()
            if isinstance(value, str)
        }
        timeout = client.timeout
        connect = timeout.connect if isinstance(timeout, Timeout) else timeout
        return cls(
            f"{str(client.base_url).rstrip('/')}/chat/completions", headers,
            connect_timeout=connect if isinstance(connect, float | int) else None,
        )

    def start(self) -> None:
        """Create the connection pool (at start-up, in the running event loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_CONNECTIONS), timeout=self._timeout,
                # The endpoint's chunks are read as bytes: no JSON or cookie handling here.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def open(self, params: dict[str, Any]) -> ChatStream:
        """Send the request and return once the endpoint has answered with headers.

        An error status raises ``EndpointRefused``; an unreachable or silent endpoint the
        ``ModelUnavailable`` that ``translate`` makes of it, as the SDK's path does.
        """
        self.start()
        assert self._session is not None
        body = json.dumps(params, separators=(",", ":")).encode()
        try:
            response = await self._session.post(self.url, data=body, headers=self._headers)
        except aiohttp.ClientError as exc:
            # Raised as ours: a connect timeout is also a TimeoutError, which the caller
            # would take for its own wait for the first text running out.
            raise translate(exc, "an answer") from exc
        if response.status >= 400:
            response.release()
            raise EndpointRefused(response.status, response.headers)

        async def close() -> None:
            response.release()

        return ChatStream(response.content.iter_any(), close)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
