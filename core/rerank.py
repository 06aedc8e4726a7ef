"""Reranking: a cross-encoder reads the question beside each candidate passage and orders them.

The seam is ``Reranker``. ``HttpReranker`` speaks the ``/rerank`` API that vLLM, Infinity and
Hugging Face Text Embeddings Inference serve (and Cohere's, whose shape vLLM and Infinity
copy): a question and a list of texts in, each text's index and relevance score out. Requests
are sent as ``{"model", "query", "documents", "top_n"}`` or, for TEI, ``{"query", "texts"}``;
either answer shape is read (``{"results": [{"index", "relevance_score"}]}`` or
``[{"index", "score"}]``).

A reranker only reorders what retrieval found; when it fails or is slow the fused order stands
(``RerankError`` is caught by the retriever), so an outage costs ranking quality, not answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import aiohttp

from core.errors import ModelError

if TYPE_CHECKING:
    from core.settings import Settings


class RerankError(ModelError):
    """The rerank endpoint failed, timed out or answered something unreadable."""


class Reranker(Protocol):
    """Orders ``texts`` by relevance to ``query``: (index into ``texts``, score), best first."""

    async def rerank(self, query: str, texts: Sequence[str]) -> list[tuple[int, float]]: ...


class HttpReranker:
    """A ``/rerank`` endpoint over HTTP. ``url`` is the full endpoint
    (``http://host:8000/rerank`` or ``…/v1/rerank``)."""

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 5.0,
        request_format: Literal["documents", "texts"] = "documents",
    ) -> None:
        self._url = url
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._format = request_format
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpReranker | None:
        """The configured endpoint's client, or None when no rerank endpoint is set."""
        if not settings.rerank_url:
            return None
        key = settings.rerank_api_key.get_secret_value() if settings.rerank_api_key else None
        return cls(settings.rerank_url, model=settings.rerank_model, api_key=key,
                   timeout=settings.rerank_timeout, request_format=settings.rerank_format)

    def _body(self, query: str, texts: Sequence[str]) -> dict[str, Any]:
        if self._format == "texts":
            return {"query": query, "texts": list(texts), "truncate": True}
        body: dict[str, Any] = {"query": query, "documents": list(texts), "top_n": len(texts)}
        if self._model:
            body["model"] = self._model
        return body

    async def rerank(self, query: str, texts: Sequence[str]) -> list[tuple[int, float]]:
        if not texts:
            return []
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(
                self._url, json=self._body(query, texts), headers=self._headers
            ) as response:
                if response.status != 200:
                    detail = (await response.text())[:200]
                    raise RerankError(f"The rerank endpoint answered HTTP {response.status}: "
                                      f"{detail}")
                payload = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RerankError(f"The rerank endpoint failed: {exc or type(exc).__name__}") from exc
        return _ordered(payload, len(texts))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _ordered(payload: object, count: int) -> list[tuple[int, float]]:
    items = payload.get("results") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise RerankError("The rerank endpoint's answer has no results.")
    scored: dict[int, float] = {}
    for item in items:
        if not isinstance(item, dict):
            raise RerankError("The rerank endpoint's answer is not a list of results.")
        index = item.get("index")
        score = item.get("relevance_score", item.get("score"))
        if not isinstance(index, int) or not 0 <= index < count or not isinstance(
            score, int | float
        ):
            raise RerankError(f"The rerank endpoint returned an unusable result: {item}")
        scored[index] = float(score)
    return sorted(scored.items(), key=lambda pair: -pair[1])
