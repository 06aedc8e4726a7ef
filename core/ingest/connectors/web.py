"""Web pages: ``switchboard ingest https://…``. The page's address is the citation url."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urldefrag, urlsplit

import aiohttp

from core.errors import IngestError, SourceUnavailable
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


def is_web_address(text: str) -> bool:
    return text.startswith(("http://", "https://"))


class WebPages:
    """A fixed list of pages. A page that answers 404 or 410 is removed from the index; any
    other failure leaves its indexed version alone."""

    kind = "web"
    scope = None

    def __init__(self, urls: Sequence[str], *, timeout: float = 20.0) -> None:
        self._urls = [urldefrag(u)[0] for u in urls]
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"User-Agent": "Switchboard/0.1 (+knowledge ingest)"},
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
            _, body, headers = await request(self._session, "GET", url, what=f"the page {url}")
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
