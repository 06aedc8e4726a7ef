"""A local OpenAI-compatible server for tests: embeddings and streamed chat completions.

The real ``openai`` client talks to it over HTTP. Embeddings are deterministic bags of hashed
words (with optional synonym groups folded together), so similar texts get similar vectors.
Chat replies are scripted per test through ``FakeOpenAI.replies`` / ``behaviour``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def hashed_embedding(text: str, dimensions: int, synonyms: dict[str, str]) -> list[float]:
    """A unit vector: each (synonym-folded) word adds weight to one hashed dimension."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        word = synonyms.get(word, word)
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        sign = 1.0 if digest[4] & 1 else -1.0
        vector[index] += sign
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


@dataclass
class Behaviour:
    """How the next chat completions behave; tests change it between calls."""

    ttft_s: float = 0.0
    token_interval_s: float = 0.0
    fail_status: int | None = None  # answer every request with this HTTP status
    fail_times: int = 0  # …but only this many times, then behave (0 = always)
    cut_after_tokens: int | None = None  # drop the connection mid-stream


@dataclass
class FakeOpenAI:
    """The server's state: what it was asked, and what it will answer."""

    dimensions: int = 384
    synonyms: dict[str, str] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)
    default_reply: str = "I could not find that in the documents."
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def add_synonyms(self, *groups: Iterable[str]) -> None:
        for group in groups:
            words = list(group)
            for word in words:
                self.synonyms[word] = words[0]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    def _failure(self) -> web.Response | None:
        b = self.behaviour
        if b.fail_status is None:
            return None
        if b.fail_times:
            b.fail_times -= 1
            if b.fail_times == 0:
                status, b.fail_status = b.fail_status, None
            else:
                status = b.fail_status
        else:
            status = b.fail_status
        headers = {"Retry-After": "0"} if status == 429 else {}
        return web.json_response(
            {"error": {"message": f"fake failure {status}", "type": "server_error"}},
            status=status,
            headers=headers,
        )

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-chat", "object": "model"}]})

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("embeddings", body))
        failure = self._failure()
        if failure is not None:
            return failure
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = int(body.get("dimensions") or self.dimensions)
        data = [
            {"object": "embedding", "index": i, "embedding": hashed_embedding(t, dims, self.synonyms)}
            for i, t in enumerate(inputs)
        ]
        tokens = sum(len(_WORD.findall(t)) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "fake-embed"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        import asyncio

        body = await request.json()
        self.requests.append(("chat", body))
        failure = self._failure()
        if failure is not None:
            return failure
        text = self.replies.pop(0) if self.replies else self.default_reply
        words = re.findall(r"\S+\s*", text)
        model = body.get("model", "fake-chat")
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        if not body.get("stream"):
            await asyncio.sleep(self.behaviour.ttft_s)
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}
                    ],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                              "total_tokens": prompt_tokens + len(words)},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(payload: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps(payload)}\n\n".encode())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        await asyncio.sleep(self.behaviour.ttft_s)
        await send(chunk({"role": "assistant", "content": ""}))
        for index, word in enumerate(words):
            if self.behaviour.cut_after_tokens is not None and index >= self.behaviour.cut_after_tokens:
                request.transport.close()  # type: ignore[union-attr]
                return response
            if index and self.behaviour.token_interval_s:
                await asyncio.sleep(self.behaviour.token_interval_s)
            await send(chunk({"content": word}))
        final = chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(final)
            await send(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                              "total_tokens": prompt_tokens + len(words)},
                }
            )
        else:
            await send(final)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
