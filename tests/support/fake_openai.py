"""A local OpenAI-compatible server for tests: embeddings, streamed chat, tool calls, moderation.

The real ``openai`` client talks to it over HTTP, on the OpenAI paths (``/v1/...``) and the Azure
OpenAI ones (``/openai/deployments/{deployment}/...?api-version=...``). It enforces the rules a
real endpoint would (a model, well-formed messages and tools, ``stream_options`` only with
``stream``, the API key when one is set) and answers 400 or 401 otherwise.

Embeddings are deterministic bags of hashed words (with optional synonym groups folded together),
so similar texts get similar vectors; ``encoding_format=base64`` is answered as the API does
(little-endian float32, base64). Chat replies are scripted per test through ``replies``, tool
calls through ``tool_replies``, and misbehaviour through ``behaviour``: slow first token, slow
tool calls, 429/500 failures (a number of times or always), a stream cut or stalled midway, no
usage in the stream, a prompt read at a number of tokens a second (``peak_prompts_reading``
tells whether a prompt was sent again while the first was still being read), embeddings that take a while and a 429 above a number of requests in flight
(a remote endpoint's latency and rate limit).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import random
import re
import string
import struct
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_ROLES = {"system", "developer", "user", "assistant", "tool"}
MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)


def cited_prose(sentences: int, *, seed: int = 0) -> str:
    """A model reply the grounding check shows whole: ``sentences`` sentences of made-up words,
    each citing passage 1, with no figures and no run of words said twice (a loop)."""
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
                 for _ in range(rng.randint(8, 14))]
        out.append(" ".join(words).capitalize() + " [1].")
    return " ".join(out)


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


@dataclass(frozen=True)
class PlainText:
    """A tool reply where the model answers in prose instead of calling the tool."""

    text: str


@dataclass
class Behaviour:
    """How the next requests behave; tests change it between calls."""

    ttft_s: float = 0.0  # delay before the first chunk (or the whole non-streamed reply)
    token_interval_s: float = 0.0
    tool_delay_s: float = 0.0  # extra delay before answering a tool call
    fail_status: int | None = None  # answer requests with this HTTP status
    fail_times: int = 0  # …but only this many times, then behave (0 = always)
    fail_kinds: tuple[str, ...] = ()  # which kinds fail ("chat", "tools", …); empty = all
    retry_after: str | None = "0"  # Retry-After header sent with a 429
    cut_after_tokens: int | None = None  # drop the connection mid-stream
    stall_after_tokens: int | None = None  # stop sending mid-stream, connection left open
    stall_s: float = 30.0
    error_after_tokens: int | None = None  # send an ``error`` event mid-stream, then end it
    keep_alive_comments: bool = False  # an SSE comment line before every chunk
    include_usage: bool = True  # honour stream_options.include_usage
    embedding_latency_s: float = 0.0  # each embeddings request takes this long (network, queue)
    max_concurrent_embeddings: int = 0  # above this many in flight: 429 + Retry-After (0 = no cap)
    # Reads prompts at this many tokens a second before the first chunk, as a CPU llama.cpp
    # server does, and goes on reading after the client gave up (0 = no reading time).
    prompt_tokens_per_s: float = 0.0


@dataclass
class FakeOpenAI:
    """The server's state: what it was asked, and what it will answer."""

    dimensions: int = 384
    synonyms: dict[str, str] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)
    default_reply: str = "I could not find that in the documents."
    tool_replies: list[dict[str, Any] | str | PlainText] = field(default_factory=list)
    flagged_words: dict[str, str] = field(default_factory=dict)  # word -> moderation category
    api_key: str | None = None  # when set, requests must carry it
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    embeddings_in_flight: int = 0
    peak_embeddings_in_flight: int = 0  # the most embeddings requests served at once
    embeddings_refused: int = 0  # 429s for going over max_concurrent_embeddings
    prompts_reading: int = 0  # chat prompts being read now
    peak_prompts_reading: int = 0  # the most chat prompts read at once
    _released: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def add_synonyms(self, *groups: Iterable[str]) -> None:
        for group in groups:
            words = list(group)
            for word in words:
                self.synonyms[word] = words[0]

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        """Request bodies of one kind: "chat" (answers), "tools", "embeddings", "moderations"."""
        return [body for k, body in self.requests if k == kind]

    def count(self, kind: str) -> int:
        return len(self.bodies(kind))

    async def embeddings(self, request: web.Request) -> web.Response:
        """The embeddings endpoint alone, for a server that fakes other things too."""
        return await self._embeddings(request)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/moderations", self._moderations)
        app.router.add_get("/v1/models", self._models)
        azure = "/openai/deployments/{deployment}"
        app.router.add_post(azure + "/chat/completions", self._chat)
        app.router.add_post(azure + "/embeddings", self._embeddings)
        return app

    # -- rules ----------------------------------------------------------------------------

    def _refusal(self, request: web.Request) -> web.Response | None:
        """401 without the key, 400 on Azure paths without an api-version."""
        if "deployment" in request.match_info:
            if not request.query.get("api-version"):
                return _error(400, "Missing required query parameter: api-version")
            presented = request.headers.get("api-key")
        else:
            auth = request.headers.get("Authorization", "")
            presented = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if self.api_key is not None and presented != self.api_key:
            return _error(401, "Incorrect API key provided.", kind="invalid_request_error")
        return None

    def _failure(self, kind: str) -> web.Response | None:
        b = self.behaviour
        if b.fail_status is None or (b.fail_kinds and kind not in b.fail_kinds):
            return None
        status = b.fail_status
        if b.fail_times:
            b.fail_times -= 1
            if b.fail_times == 0:
                b.fail_status = None
        headers = {"Retry-After": b.retry_after} if status == 429 and b.retry_after else {}
        return _error(status, f"fake failure {status}", headers=headers)

    async def _read(self, request: web.Request) -> dict[str, Any] | web.Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.")
        if "deployment" in request.match_info:
            body.setdefault("model", request.match_info["deployment"])
        self.headers.append(dict(request.headers))
        return body

    # -- endpoints ------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-chat", "object": "model"}]})

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        self.requests.append(("embeddings", body))
        failure = self._failure("embeddings")
        if failure is not None:
            return failure
        if not body.get("model") or "input" not in body:
            return _error(400, "'model' and 'input' are required.")
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            return _error(400, f"Invalid encoding_format {encoding!r}: 'float' or 'base64'.")
        b = self.behaviour
        if b.max_concurrent_embeddings and self.embeddings_in_flight >= b.max_concurrent_embeddings:
            self.embeddings_refused += 1
            headers = {"Retry-After": b.retry_after} if b.retry_after else {}
            return _error(429, "Too many concurrent requests.", kind="rate_limit_exceeded",
                          headers=headers)
        self.embeddings_in_flight += 1
        self.peak_embeddings_in_flight = max(self.peak_embeddings_in_flight,
                                             self.embeddings_in_flight)
        try:
            if b.embedding_latency_s:
                await asyncio.sleep(b.embedding_latency_s)
        finally:
            self.embeddings_in_flight -= 1
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = int(body.get("dimensions") or self.dimensions)
        data = [
            {"object": "embedding", "index": i,
             "embedding": _encoded(hashed_embedding(t, dims, self.synonyms), encoding)}
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

    async def _moderations(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        self.requests.append(("moderations", body))
        failure = self._failure("moderations")
        if failure is not None:
            return failure
        if "input" not in body:
            return _error(400, "'input' is required.")
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        results = []
        for text in inputs:
            words = set(_WORD.findall(str(text).lower()))
            hits = {self.flagged_words[w] for w in words if w in self.flagged_words}
            categories = {c: c in hits for c in MODERATION_CATEGORIES}
            results.append(
                {
                    "flagged": bool(hits),
                    "categories": categories,
                    "category_scores": {c: (0.97 if hit else 0.001) for c, hit in categories.items()},
                    "category_applied_input_types": {c: ["text"] for c in MODERATION_CATEGORIES},
                }
            )
        return web.json_response(
            {"id": f"modr-{uuid.uuid4().hex[:12]}",
             "model": body.get("model") or "omni-moderation-latest", "results": results}
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        kind = "tools" if body.get("tools") else "chat"
        self.requests.append((kind, body))
        problem = _chat_problem(body)
        if problem is not None:
            return _error(400, problem)
        failure = self._failure(kind)
        if failure is not None:
            return failure
        model = body["model"]
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        prompt_tokens = sum(
            len(str(m.get("content", "")).split()) + 4 for m in body["messages"]
        )
        if kind == "tools":
            await asyncio.sleep(self.behaviour.ttft_s + self.behaviour.tool_delay_s)
            return await self._tool_reply(request, body, completion_id, prompt_tokens)
        text = self.replies.pop(0) if self.replies else self.default_reply
        words = re.findall(r"\S+\s*", text)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                 "total_tokens": prompt_tokens + len(words)}
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
                    "usage": usage,
                }
            )
        b = self.behaviour
        stream = await _SSE.open(request)
        await asyncio.sleep(b.ttft_s)
        if b.prompt_tokens_per_s:
            # Shielded: a server goes on reading a prompt whose client has hung up.
            await asyncio.shield(self._read_prompt(prompt_tokens / b.prompt_tokens_per_s))
        await stream.send(_chunk(completion_id, model, {"role": "assistant", "content": ""}))
        for index, word in enumerate(words):
            if b.cut_after_tokens is not None and index >= b.cut_after_tokens:
                request.transport.close()  # type: ignore[union-attr]
                return stream.response
            if b.stall_after_tokens is not None and index >= b.stall_after_tokens:
                await self._stall(b.stall_s)
            if b.error_after_tokens is not None and index >= b.error_after_tokens:
                # What OpenAI sends when a generation fails after the 200: an error payload
                # in the stream, and no [DONE].
                await stream.send({"error": {"message": "The server had an error while "
                                             "processing your request.", "type": "server_error",
                                             "param": None, "code": None}})
                await stream.response.write_eof()
                return stream.response
            if b.keep_alive_comments:
                await stream.response.write(b": keep-alive\n\n")
            if index and b.token_interval_s:
                await asyncio.sleep(b.token_interval_s)
            await stream.send(_chunk(completion_id, model, {"content": word}))
        await stream.send(_chunk(completion_id, model, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage") and b.include_usage:
            await stream.send(_chunk(completion_id, model, None, usage=usage))
        await stream.done()
        return stream.response

    async def _read_prompt(self, seconds: float) -> None:
        self.prompts_reading += 1
        self.peak_prompts_reading = max(self.peak_prompts_reading, self.prompts_reading)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.prompts_reading -= 1

    async def _stall(self, seconds: float) -> None:
        """Hold a stream open, silent, until ``seconds`` pass or the server shuts down."""
        try:
            await asyncio.wait_for(self._released.wait(), seconds)
        except TimeoutError:
            pass

    def release(self) -> None:
        """End every stall now (the server is closing)."""
        self._released.set()

    async def _tool_reply(
        self, request: web.Request, body: dict[str, Any], completion_id: str, prompt_tokens: int
    ) -> web.StreamResponse:
        scripted = self.tool_replies.pop(0) if self.tool_replies else PlainText("")
        tool_name = body["tools"][0]["function"]["name"]
        if isinstance(scripted, PlainText):
            message: dict[str, Any] = {"role": "assistant", "content": scripted.text}
            finish = "stop"
        else:
            arguments = scripted if isinstance(scripted, str) else json.dumps(scripted)
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": f"call_{uuid.uuid4().hex[:10]}", "type": "function",
                     "function": {"name": tool_name, "arguments": arguments}}
                ],
            }
            finish = "tool_calls"
        output_tokens = len(json.dumps(message).split())
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": output_tokens,
                 "total_tokens": prompt_tokens + output_tokens}
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                    "usage": usage,
                }
            )
        stream = await _SSE.open(request)
        delta = dict(message)
        for i, call in enumerate(delta.get("tool_calls") or []):
            call["index"] = i
        await stream.send(_chunk(completion_id, body["model"], delta))
        await stream.send(_chunk(completion_id, body["model"], {}, finish))
        await stream.done()
        return stream.response


def _chat_problem(body: dict[str, Any]) -> str | None:
    """What a real endpoint would reject about a chat request, or None."""
    if not body.get("model"):
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            return f"invalid message {m!r}"
        if m["role"] != "assistant" and not isinstance(m.get("content"), (str, list)):
            return f"messages with role {m['role']!r} must have content"
    if body.get("stream_options") is not None and not body.get("stream"):
        return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    tools = body.get("tools")
    if tools is not None:
        names = set()
        for tool in tools:
            function = tool.get("function") if isinstance(tool, dict) else None
            if tool.get("type") != "function" or not isinstance(function, dict) or not function.get("name"):
                return f"invalid tool {tool!r}"
            names.add(function["name"])
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and (choice.get("function") or {}).get("name") not in names:
            return "tool_choice names a function that is not in tools"
    return None


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    """A vector as the API sends it: a list, or base64 of little-endian float32."""
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def _error(
    status: int, message: str, *, kind: str = "server_error", headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "code": None}}, status=status,
        headers=headers or {},
    )


def _chunk(
    completion_id: str, model: str, delta: dict[str, Any] | None, finish: str | None = None,
    *, usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
        **({"usage": usage} if usage is not None else {}),
    }


class _SSE:
    """A server-sent-events response, written one ``data:`` line at a time."""

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response

    @classmethod
    async def open(cls, request: web.Request) -> _SSE:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        return cls(response)

    async def send(self, payload: dict[str, Any]) -> None:
        await self.response.write(f"data: {json.dumps(payload)}\n\n".encode())

    async def done(self) -> None:
        await self.response.write(b"data: [DONE]\n\n")
        await self.response.write_eof()


@asynccontextmanager
async def serve_fake(fake: FakeOpenAI) -> AsyncIterator[str]:
    """Run ``fake`` on 127.0.0.1 and yield its base URL (ending in ``/v1``)."""
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/v1"))
    finally:
        fake.release()
        await server.close()
