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
import ssl
import urllib.request
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
from openai import AsyncAzureOpenAI, AsyncOpenAI, Timeout
from yarl import URL

from core.llm.chat_stream import ChatStream
from core.llm.endpoint import EndpointRefused, translate

# As many connections as the SDK's own pool allows: a burst holds one for every answer it
# streams (at most ``SLACK_MAX_ANSWERS`` a replica).
_CONNECTIONS = 1000
_JSON_HEADERS = {"Content-Type": "application/json"}
# As the SDK writes a body: UTF-8 as it is, and NaN refused here rather than sent as bad JSON.
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
# Enough of an error's body to say why in the log ("context length exceeded").
_DETAIL_BYTES = 2048


def _tls() -> ssl.SSLContext | bool:
    """The certificates the SDK's own requests trust (its HTTP library's default context:
    the bundled authorities, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), so an answer trusts
    what routing and moderation trust; aiohttp's default where that library is missing."""
    try:
        import httpx2
    except ImportError:
        return True
    return httpx2.create_ssl_context(trust_env=True)


def _env_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy ``HTTP_PROXY`` / ``HTTPS_PROXY`` name for ``url`` unless ``NO_PROXY`` exempts
    it, with its credentials apart, as the SDK's requests would use it. Read once: aiohttp's
    own ``trust_env`` reads the environment and looks for a ``.netrc`` on a worker thread at
    every request (0.9 ms of CPU an answer in ``bench.model_stream``)."""
    parts = urlsplit(url)
    raw = urllib.request.getproxies().get(parts.scheme)
    if not raw or urllib.request.proxy_bypass(parts.netloc):
        return None, None
    proxy = URL(raw)
    auth = aiohttp.BasicAuth.from_url(proxy)
    return proxy.with_user(None), auth


class ChatPost:
    """Opens streamed chat completions for one endpoint. ``aclose()`` closes its connections."""

    def __init__(self, url: str, headers: dict[str, str], *, connect_timeout: float | None) -> None:
        self.url = url
        self._headers = {**headers, **_JSON_HEADERS}
        # Only the connection itself is timed: a wait for a free one in the pool is ours, not
        # the endpoint's, and the reads are timed by the caller.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=connect_timeout, sock_read=None
        )
        self._session: aiohttp.ClientSession | None = None
        self._proxy, self._proxy_auth = _env_proxy(url)
        # Built here, at start-up, and only for HTTPS: loading the certificates takes 30-90 ms,
        # which the first answer would otherwise wait for.
        self._ssl = _tls() if urlsplit(url).scheme == "https" else True

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

    def _pool(self) -> aiohttp.ClientSession:
        """The connection pool, made by the first request (in its event loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_CONNECTIONS, ssl=self._ssl),
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def open(self, params: dict[str, Any]) -> ChatStream:
        """Send the request and return once the endpoint has answered with headers.

        An error status raises ``EndpointRefused``; an unreachable or silent endpoint the
        ``ModelUnavailable`` that ``translate`` makes of it, as the SDK's path does.
        """
        body = _ENCODE(params).encode()
        try:
            response = await self._pool().post(
                self.url, data=body, headers=self._headers, proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            )
        except aiohttp.ClientError as exc:
            # Raised as ours: a connect timeout is also a TimeoutError, which the caller
            # would take for its own wait for the first text running out.
            raise translate(exc, "an answer") from exc
        if response.status >= 400:
            try:
                detail = (await response.content.read(_DETAIL_BYTES)).decode(errors="replace")
            except aiohttp.ClientError:
                detail = ""
            finally:
                response.close()
            raise EndpointRefused(response.status, response.headers, detail)

        async def close() -> None:
            # A body read to its end gives the connection back; one left part-read (an
            # answer cancelled or failed) hangs up, so the endpoint stops writing it.
            if response.content.at_eof():
                response.release()
            else:
                response.close()

        return ChatStream(response.content.iter_any(), close)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
