"""Web pages: ``switchboard ingest https://…``. The page's address is the citation url."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urldefrag, urljoin, urlsplit

import aiohttp

from core.errors import IngestError, SourceUnavailable
from core.ingest.connectors.addresses import AddressPolicy, connector_options
from core.ingest.connectors.base import RemoteItem, request
from core.ingest.documents import LoadedDocument
from core.ingest.loaders import load_bytes

# Content types we read, and the file kind each is parsed as.
_KINDS = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "application/pdf": ".pdf",
}
_GONE = frozenset({404, 410})
_MAX_BYTES = 20_000_000
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


def is_web_address(text: str) -> bool:
    return text.startswith(("http://", "https://"))


class WebPages:
    """A fixed list of pages. A page that answers 404 or 410 is removed from the index; any
    other failure leaves its indexed version alone.

    Pages reach public addresses only, and hosts in ``allowed_hosts`` (names, addresses or
    networks) inside the network: checked on every connection and every redirect
    (core/ingest/connectors/addresses.py).
    """

    kind = "web"
    scope = None

    def __init__(
        self, urls: Sequence[str], *, timeout: float = 20.0, allowed_hosts: Iterable[str] = ()
    ) -> None:
        self._urls = [urldefrag(u)[0] for u in urls]
        self._policy = AddressPolicy(allowed_hosts)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"User-Agent": "Switchboard/0.1 (+knowledge ingest)"},
            connector=aiohttp.TCPConnector(**connector_options(self._policy)),
        )
        self.gone: list[str] = []
        self.failed: list[tuple[str, str]] = []

    async def list(self) -> list[RemoteItem]:
        # A page has no cheap version tag: fetch it now, and let its content hash decide.
        items: list[RemoteItem] = []
        for url in self._urls:
            try:
                items.append(await self._get(url))
            except _Gone:
                self.gone.append(url)
            except IngestError as exc:
                self.failed.append((url, str(exc)))
        return items

    async def _get(self, url: str) -> RemoteItem:
        host = urlsplit(url).netloc
        try:
            body, headers = await self._follow(url)
        except SourceUnavailable as exc:
            if exc.status in _GONE:
                raise _Gone(url) from exc
            raise
        if len(body) > _MAX_BYTES:
            raise IngestError(f"The page {url} is larger than {_MAX_BYTES // 1_000_000} MB.")
        content_type = headers.get("Content-Type", "text/html").split(";")[0].strip().lower()
        suffix = _KINDS.get(content_type)
        if suffix is None:
            raise IngestError(f"The page {url} is {content_type}, not a kind I can read.")
        final = headers.get("X-Final-Url", url)
        path = urlsplit(final).path.rstrip("/") or "/index"
        name = f"{host}{path}".replace(":", "_")
        if not name.endswith(suffix):
            name += suffix
        return RemoteItem(uri=url, name=name, url=final, payload=body)

    async def _follow(self, url: str) -> tuple[bytes, dict[str, str]]:
        """GET ``url``, following redirects one by one so that each address is checked."""
        at = url
        for _ in range(_MAX_REDIRECTS + 1):
            self._policy.check_url(at)
            status, body, headers = await request(
                self._session, "GET", at, what=f"the page {url}", follow=False
            )
            location = next((v for k, v in headers.items() if k.lower() == "location"), None)
            if status not in _REDIRECTS or not location:
                return body, {**headers, "X-Final-Url": at}
            at = urldefrag(urljoin(at, location))[0]
        raise IngestError(f"The page {url} redirects more than {_MAX_REDIRECTS} times.")

    async def fetch(self, item: RemoteItem, *, salt: str) -> LoadedDocument:
        assert item.payload is not None
        document = load_bytes(item.payload, item.name, salt=salt + item.uri)
        document.uri = item.uri
        document.url = item.url
        document.path = None
        document.source = self.kind
        return document

    async def aclose(self) -> None:
        await self._session.close()


class _Gone(Exception):
    pass
