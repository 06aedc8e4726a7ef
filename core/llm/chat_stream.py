"""A streamed chat completion, read straight from its server-sent events.

The openai SDK turns every chunk of a stream into a pydantic ``ChatCompletionChunk``, which
cost about half of a busy replica's CPU. Here the body is read as bytes and each ``data:``
payload becomes a plain dict through ``json.loads``. The request is sent by ``ChatPost``
(``core/llm/chat_post.py``) with the client's URL and headers, or, for Azure OpenAI, by the
SDK (``ChatStream.open``: its deployment paths, token providers, HTTP errors as its classes).

The stream is read as the SSE spec and the SDK read it: lines end in LF, CR or CRLF; a blank
line ends an event; a line starting with ``:`` is a comment (a keep-alive); the ``data:`` lines
of one event are joined with newlines; ``data: [DONE]`` ends the stream; a payload carrying an
``error`` (or an ``event: error``) is the endpoint failing mid-answer. Events without data and
JSON values that are not objects carry nothing we use and are skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Self

import structlog
from openai import AsyncOpenAI, Timeout

from core.errors import ModelError, ModelUnavailable

log = structlog.get_logger(__name__)

# After [DONE] the body should end at once; reading that end lets the connection be reused,
# but a server that keeps talking must not hold the answer up.
_DRAIN_S = 0.1
_MESSAGE_LIMIT = 300
_LINE_LIMIT = 8 * 1024 * 1024  # far above any chunk; stops an endless line from eating memory
# The SDK's request header for "return the response with its body unread": the one its
# ``with_streaming_response`` sets.
_RAW_RESPONSE = "X-Stainless-Raw-Response"
# One decoder for every chunk: ``json.loads`` on bytes first guesses their encoding, which an
# event stream does not need (it is UTF-8), a few microseconds a chunk.
_JSON = json.JSONDecoder()


def _without_read_timeout(timeout: Any) -> Any:
    """The client's timeouts less the one between reads. The caller already limits the wait
    for the first text and every silence after it (``ModelClient``, ``core.llm.silence``); the
    transport's own read timeout would set, move and cancel a timer for every chunk too."""
    if not isinstance(timeout, Timeout):
        return timeout
    return Timeout(connect=timeout.connect, read=None, write=timeout.write, pool=timeout.pool)


class ChatStream:
    """One streamed chat completion. Iterate ``chunks`` for its chunks as dicts; always
    ``await aclose()`` afterwards, which also releases the connection."""

    def __init__(
        self, body: AsyncIterator[bytes], close: Callable[[], Awaitable[object]], *,
        reusable: bool = True,
    ) -> None:
        self._bytes = body  # the response's body as it arrives
        self._close = close  # gives the connection back (or drops it)
        # HTTP/1.1: the end of the body is read after [DONE], so the connection can be reused.
        self._reusable = reusable
        self._data: list[bytes] = []
        self._event = b""
        self._done = False  # [DONE] was read
        self.chunks = self._read()

    @classmethod
    async def open(cls, client: AsyncOpenAI, params: dict[str, Any]) -> Self:
        """Send the request and return once the endpoint has answered with headers.

        A refusal (429, 5xx, 401, …) raises the SDK's exception for it, as ``create`` does.
        The request goes through the client's ``post`` (base URL, auth, Azure's deployment
        paths, timeouts, errors) with ``params`` as the JSON body: ``create`` would first walk
        every message through the SDK's type-driven transform, about 1.5 ms of CPU a question
        (docs/benchmarks.md, round four) that changes nothing in a body of plain strings.
        """
        response = await client.post(
            "/chat/completions",
            body=params,
            cast_to=object,
            options={
                # As ``with_streaming_response``: the SDK hands back the response, body unread.
                "headers": {_RAW_RESPONSE: "stream"},
                "timeout": _without_read_timeout(client.timeout),
            },
        )
        http = response.http_response  # an httpx response, body unread
        body = http.aiter_bytes()

        async def close() -> None:
            try:
                await body.aclose()
            finally:
                await http.aclose()

        return cls(body, close, reusable=http.http_version == "HTTP/1.1")

    async def aclose(self) -> None:
        try:
            await self.chunks.aclose()
        finally:
            await self._close()

    async def _read(self) -> AsyncGenerator[dict[str, Any], None]:
        tail = b""
        while True:
            received = await self._receive()
            if received is None:
                break
            data = tail + received if tail else received
            held = False
            if b"\r" in data:
                # A CR at the very end may be the first half of a CRLF cut between reads.
                held = data.endswith(b"\r")
                if held:
                    data = data[:-1]
                data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = data.split(b"\n")
            tail = lines.pop() + b"\r" if held else lines.pop()
            if len(tail) > _LINE_LIMIT:
                raise ModelError("The model stream sent a line longer than 8 MiB.")
            for line in lines:
                if line:
                    self._field(line)
                    continue
                payload = self._dispatch()
                if self._done:
                    await self._drain()
                    return
                if payload is not None:
                    yield payload
        # The body ended. Only a line already ended by a held CR is complete; if it is blank,
        # it ends the last event. Anything else was cut off and is dropped, as the SDK does.
        if tail == b"\r":
            payload = self._dispatch()
            if payload is not None:
                yield payload

    async def _receive(self) -> bytes | None:
        """The next bytes of the body, or None at its end; transport failures (reset, read
        timeout, a body cut short) as ``ModelUnavailable``, which is worth a retry."""
        try:
            return await anext(self._bytes, None)
        except Exception as exc:
            raise ModelUnavailable(
                f"The model stream failed while reading ({type(exc).__name__}).", retryable=True
            ) from exc

    def _field(self, line: bytes) -> None:
        if line.startswith(b"data:"):
            value = line[5:]
        elif line.startswith(b":"):
            return  # a comment
        else:
            name, _, value = line.partition(b":")
            if name == b"event":
                self._event = value[1:] if value.startswith(b" ") else value
                return
            if name != b"data":
                return  # id, retry and unknown fields mean nothing to a chat stream
        self._data.append(value[1:] if value.startswith(b" ") else value)

    def _dispatch(self) -> dict[str, Any] | None:
        """The event ended by a blank line: its payload, or None (skipped, or [DONE])."""
        data, event = self._data, self._event
        if not data and not event:
            return None
        self._data, self._event = [], b""
        text = data[0] if len(data) == 1 else b"\n".join(data)
        if text.startswith(b"[DONE]"):
            self._done = True
            return None
        if not text:
            if event == b"error":
                raise _stream_error(None)
            return None
        try:
            payload = _JSON.decode(text.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError is one too
            raise ModelError("The model stream sent a chunk that is not JSON.") from exc
        if not isinstance(payload, dict):
            return None
        error = payload.get("error")
        if error or event == b"error":
            raise _stream_error(error if error else payload)
        return payload

    async def _drain(self) -> None:
        if not self._reusable:
            return  # HTTP/2 ends the stream without giving up the connection
        try:
            async with asyncio.timeout(_DRAIN_S):
                async for _ in self._bytes:
                    pass
        except Exception:  # the answer is complete: cleanup must not turn it into a failure
            log.debug("stream_drain_failed", exc_info=True)


def _stream_error(error: Any) -> ModelError:
    """The endpoint's error event as a ``ModelError`` that says what the endpoint said."""
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = "an error occurred during streaming"
    code = error.get("code") if isinstance(error, dict) else None
    return ModelError(
        f"The model endpoint reported an error in the stream: {message[:_MESSAGE_LIMIT]}",
        status=code if isinstance(code, int) else None,
    )
