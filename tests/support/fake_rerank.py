"""A local ``/rerank`` server for tests, in the two shapes real ones speak.

``POST /v1/rerank`` answers like vLLM and Infinity (``{"model", "query", "documents",
"top_n"}`` in, ``{"results": [{"index", "relevance_score"}]}`` out); ``POST /rerank`` like
Hugging Face TEI (``{"query", "texts"}`` in, ``[{"index", "score"}]`` out). A text's score is
the share of the query's words it holds, plus a bonus for each word of ``favour``, so a test
can make it prefer a passage the fused ranking put lower. ``failing`` answers 503; ``delay``
holds every answer. Every request body is recorded.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

_WORD = re.compile(r"[^\W_]+")


@dataclass
class FakeRerank:
    favour: set[str] = field(default_factory=set)
    failing: bool = False
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def score(self, query: str, text: str) -> float:
        words = set(_WORD.findall(text.lower()))
        asked = set(_WORD.findall(query.lower()))
        overlap = len(words & asked) / len(asked) if asked else 0.0
        return overlap + sum(1.0 for w in self.favour if w in words)

    async def _answer(self, request: web.Request, shape: str) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failing:
            return web.json_response({"error": "overloaded"}, status=503)
        texts = body.get("documents" if shape == "documents" else "texts")
        query = body.get("query")
        if not isinstance(query, str) or not isinstance(texts, list) or not texts:
            return web.json_response({"error": "query and a non-empty list are required"},
                                     status=422)
        ranked = sorted(((i, self.score(query, t)) for i, t in enumerate(texts)),
                        key=lambda pair: -pair[1])
        if shape == "texts":
            return web.json_response([{"index": i, "score": s} for i, s in ranked])
        top = int(body.get("top_n") or len(ranked))
        return web.json_response({"model": body.get("model", "fake-reranker"), "results": [
            {"index": i, "relevance_score": s} for i, s in ranked[:top]
        ]})

    def app(self) -> web.Application:
        app = web.Application()

        async def documents(request: web.Request) -> web.Response:
            return await self._answer(request, "documents")

        async def texts(request: web.Request) -> web.Response:
            return await self._answer(request, "texts")

        app.router.add_post("/v1/rerank", documents)
        app.router.add_post("/rerank", texts)
        return app


@asynccontextmanager
async def serve_rerank(fake: FakeRerank) -> AsyncIterator[str]:
    """Run ``fake`` on 127.0.0.1 and yield its base URL (no trailing slash)."""
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
