"""What every source gives the ingestor, and the HTTP calls they share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from core.errors import SourceUnavailable
from core.ingest.documents import LoadedDocument

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_MAX_RETRY_AFTER = 10.0


@dataclass(frozen=True, slots=True)
class RemoteItem:
    """One document a source holds, as its listing describes it.

    ``version`` changes whenever the content does (an eTag, a page version); ``None`` means
    the source has no such tag and the fetched content's hash decides instead.
    """

    uri: str
    name: str
    version: str | None = None
    url: str | None = None
    payload: bytes | None = field(default=None, repr=False)


class Source(Protocol):
    """A place documents come from. ``kind`` is stored as the documents' source.

    ``scope`` is the uri prefix the source owns: documents under it that a successful listing
    no longer names are removed. ``gone`` lists uris the source confirmed deleted; ``failed``
    the items it could not list (uri, reason), whose indexed versions are kept.
    """

    kind: str
    scope: str | None
    gone: list[str]
    failed: list[tuple[str, str]]

    async def list(self) -> list[RemoteItem]: ...

    async def fetch(self, item: RemoteItem, *, salt: str) -> LoadedDocument: ...

    async def aclose(self) -> None: ...


def describe_status(what: str, status: int, hint: str = "") -> str:
    if status in (401, 403):
        text = f"{what} refused the credentials (HTTP {status})."
        return f"{text} {hint}".strip()
    if status == 404:
        return f"{what} answered 404: not found. {hint}".strip()
    return f"{what} failed with HTTP {status}; the index was left as it was."


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    hint: str = "",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    data: Any = None,
    retries: int = 2,
    follow: bool = True,
) -> tuple[int, bytes, Mapping[str, str]]:
    """Send one request; retry 429/5xx that name a short ``Retry-After``; raise ``IngestError``
    ``SourceUnavailable`` with a message naming ``what`` on any other failure."""
    for attempt in range(retries + 1):
        try:
            async with session.request(
                method, url, headers=headers, params=params, data=data, allow_redirects=follow
            ) as response:
                body = await response.read()
                status = response.status
                answer_headers = dict(response.headers)
                final_url = str(response.url)
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = str(exc) or type(exc).__name__
            raise SourceUnavailable(f"Cannot reach {what} ({reason}).") from exc
        if status in _RETRY_STATUSES and attempt < retries:
            try:
                wait = float(answer_headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            if wait <= _MAX_RETRY_AFTER:
                await asyncio.sleep(wait)
                continue
        if status >= 400:
            raise SourceUnavailable(describe_status(what, status, hint), status=status)
        answer_headers["X-Final-Url"] = final_url
        return status, body, answer_headers
    raise AssertionError("unreachable")


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    what: str,
    hint: str = "",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    _, body, _ = await request(
        session, "GET", url, what=what, hint=hint, headers=headers, params=params
    )
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise SourceUnavailable(
            f"{what} answered something that is not JSON; nothing was changed."
        ) from exc
    if not isinstance(value, dict):
        raise SourceUnavailable(
            f"{what} answered an unexpected JSON document; nothing was changed."
        )
    return value
