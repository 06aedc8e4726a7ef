"""The one model client: chat streaming, tool calls and moderation through the openai SDK.

Works against any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, a llama.cpp
server). The SDK's own retries are switched off: this module retries 429 and 5xx itself, with
exponential backoff and full jitter, and only *before* the first token — once text has reached
the user, a retry would show it twice. A circuit breaker stops calling an endpoint that keeps
failing, so a dead model costs each user nothing but the fallback.

How long to wait, how the endpoint is reached and what its failures mean:
``core/llm/endpoint.py``. A streamed answer's body is read by ``ChatStream`` (``core/llm/chat_stream.py``) as plain JSON
chunks rather than the SDK's pydantic objects, which cost several times as much CPU a chunk;
its request goes out through ``ChatPost`` (``core/llm/chat_post.py``) with the SDK client's
URL and headers, or through the SDK for Azure OpenAI.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any, Self

import anyio.lowlevel
import structlog
from openai import AsyncOpenAI

from core.errors import ModelError, ModelUnavailable, StreamInterrupted
from core.llm.breaker import CircuitBreaker
from core.llm.chat_post import ChatPost
from core.llm.chat_stream import ChatStream
from core.llm.endpoint import (
    Completion,
    ModelLimits,
    ModerationVerdict,
    ToolCall,
    backoff_delay,
    build_openai_client,
    counts_against_endpoint,
    retry_after,
    translate,
)
from core.llm.prefill import PromptReadingPace
from core.llm.silence import Silence
from core.settings import Settings

log = structlog.get_logger(__name__)

# What the rest of the code and the tests import from here.
__all__ = [
    "Completion", "ModelClient", "ModelLimits", "ModerationVerdict", "ToolCall",
    "backoff_delay", "build_openai_client",
]

Message = dict[str, Any]
Chunk = dict[str, Any]  # one streamed chunk, as the endpoint's JSON

class ModelClient:
    """Chat streaming, tool calls and moderation for one endpoint, with retries, timeouts and
    a circuit breaker. Built once at the entry point; ``aclose()`` closes the HTTP client."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        chat_model: str | None,
        limits: ModelLimits | None = None,
        breaker: CircuitBreaker | None = None,
        rng: random.Random | None = None,
        post: ChatPost | None = None,
    ) -> None:
        self.openai = client
        # Streamed answers straight through aiohttp where the SDK's path is not needed.
        self._post = post
        self.chat_model = chat_model
        self.limits = limits or ModelLimits()
        self.breaker = breaker or CircuitBreaker()
        self.reading = PromptReadingPace(self.limits.prompt_tokens_per_s)
        self._rng = rng or random.Random()

    @classmethod
    def from_settings(cls, settings: Settings, *, client: AsyncOpenAI | None = None) -> Self:
        limits = ModelLimits.from_settings(settings)
        built = client or build_openai_client(settings, limits)
        return cls(
            built,
            chat_model=settings.chat_model,
            limits=limits,
            breaker=CircuitBreaker(
                failures=settings.breaker_failures, cooldown=settings.breaker_cooldown
            ),
            # Only for a client built here from the settings: a fixed key, no token provider.
            post=ChatPost.for_client(built) if client is None else None,
        )

    async def warm(self) -> None:
        """Load what the SDK loads on first use (its resources, the HTTP client's async
        backend) now, at start-up: done by the first answers, it takes a few hundred
        milliseconds of the event loop while a burst is being answered."""
        resources = self.openai.chat.completions
        _ = resources.with_streaming_response.create, resources.create, self.openai.moderations
        await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        try:
            if self._post is not None:
                await self._post.aclose()
        finally:
            await self.openai.close()

    def _check_circuit(self, what: str) -> None:
        if not self.breaker.allow():
            raise ModelUnavailable(
                f"The model endpoint is failing; not calling it for {what} for another "
                f"{self.breaker.retry_in:.0f} s.",
                retryable=True,
            )

    async def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        completion: Completion | None = None,
        prompt_tokens: int | None = None,
    ) -> AsyncIterator[str]:
        """Yield the answer's text as it arrives.

        ``prompt_tokens`` (our count of ``messages``) lengthens the first-token wait by the
        time the endpoint needs to read them. A wait that runs out is not retried: the server
        may still be reading the prompt, and a second copy would queue behind the first.

        Raises ``ModelUnavailable`` when no text could be had (after retries, or at once when
        the circuit is open), ``StreamInterrupted`` when the stream broke after text was
        yielded, and ``ModelError`` for a request the endpoint refuses as bad.
        """
        completion = completion if completion is not None else Completion()
        model = model or self.chat_model
        if not model:
            raise ModelError("No chat model is configured (SWITCHBOARD_CHAT_MODEL).")
        completion.model = model
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.total_timeout
        params: dict[str, Any] = {"model": model, "messages": list(messages), "stream": True}
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        if temperature is not None:
            params["temperature"] = temperature
        if self.limits.stream_usage:
            params["stream_options"] = {"include_usage": True}

        stream, first = await self._open_stream(params, deadline, completion, prompt_tokens)
        try:
            if first:
                yield first
            async for text in self._rest(stream.chunks, deadline, completion):
                yield text
        finally:
            await _close_quietly(stream)

    async def _open_stream(
        self, params: dict[str, Any], deadline: float, completion: Completion,
        prompt_tokens: int | None = None,
    ) -> tuple[ChatStream, str]:
        """Send the request (retrying) until a stream yields its first text.

        Returns the stream (to go on reading its ``chunks``, then to close) and the text.
        """
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            self._check_circuit("an answer")
            attempt += 1
            completion.attempts = attempt
            stream = None
            wait = self.limits.first_token_timeout + self.reading.reading_time(prompt_tokens)
            sent = loop.time()
            try:
                budget = min(wait, deadline - loop.time())
                async with asyncio.timeout(max(budget, 0.001)):
                    stream = await (
                        self._post.open(params) if self._post is not None
                        else ChatStream.open(self.openai, params)
                    )
                    first = await _first_text(stream.chunks, completion)
            except asyncio.CancelledError:
                # The answer was called off: hang up, so the endpoint stops writing it.
                if stream is not None:
                    await asyncio.shield(_close_quietly(stream))
                raise
            except Exception as exc:
                if stream is not None:
                    await _close_quietly(stream)
                error = translate(exc, "an answer")
                if isinstance(exc, TimeoutError):
                    self.reading.observe_timeout(prompt_tokens, loop.time() - sent)
                    # Our own wait ran out after the request went out: the server may still be
                    # reading the prompt, and a copy sent now would queue behind it.
                    error = ModelUnavailable(
                        f"The model did not start answering in time ({budget:.1f} s for a "
                        f"prompt of {prompt_tokens or 'unknown'} tokens).",
                        retryable=False,
                    )
                if counts_against_endpoint(error):
                    self.breaker.record_failure()
                delay = self._retry_delay(error, exc, attempt, deadline - loop.time())
                log.warning(
                    "model_attempt_failed", attempt=attempt, status=error.status,
                    error=str(error), retry_in_s=None if delay is None else round(delay, 2),
                )
                if delay is None:
                    raise error from exc
                await asyncio.sleep(delay)
                continue
            self.breaker.record_success()
            self.reading.observe(prompt_tokens, loop.time() - sent)
            return stream, first

    def _retry_delay(
        self, error: ModelError, exc: BaseException, attempt: int, remaining: float
    ) -> float | None:
        """Seconds to wait before trying again, or None when trying again is pointless."""
        if not error.retryable or attempt > self.limits.retries:
            return None
        delay = backoff_delay(
            attempt, base=self.limits.backoff_base, cap=self.limits.backoff_max,
            retry_after=retry_after(exc), rng=self._rng,
        )
        # A Retry-After longer than our patience, or a wait that eats the whole budget,
        # is better answered by the fallback now than by a user staring at "thinking…".
        if delay > self.limits.backoff_max or delay >= remaining:
            return None
        return delay

    async def _rest(
        self, chunks: AsyncIterator[Chunk], deadline: float, completion: Completion
    ) -> AsyncIterator[str]:
        silence = Silence(self.limits.idle_timeout, deadline)
        try:
            while True:
                try:
                    chunk = await silence.next(chunks)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    self.breaker.record_failure()
                    raise StreamInterrupted(
                        f"The answer stream broke midway ({translate(exc, 'the answer')})."
                    ) from exc
                text = _absorb(chunk, completion)
                if text:
                    yield text
        finally:
            silence.close()
        if completion.finish_reason is None:
            # The connection ended without the model saying it was done: a cut, not an end.
            self.breaker.record_failure()
            raise StreamInterrupted("The answer stream ended before the model finished.")

    async def call_tool(
        self,
        messages: Sequence[Message],
        tool: dict[str, Any],
        *,
        model: str | None = None,
        timeout: float | None = None,
    ) -> ToolCall:
        """Ask the model to call ``tool`` (forced) and return its call, unvalidated.

        One attempt only: callers of a tool (routing) have a cheaper fallback than waiting.
        Raises ``ModelError`` (or ``ModelUnavailable``) when there is no usable call.
        """
        model = model or self.chat_model
        if not model:
            raise ModelError("No chat model is configured (SWITCHBOARD_CHAT_MODEL).")
        self._check_circuit("routing")
        name = tool["function"]["name"]
        params: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": name}},
            "temperature": 0,
        }
        try:
            async with asyncio.timeout(timeout or self.limits.tool_timeout):
                response = await self.openai.chat.completions.create(**params)
        except Exception as exc:
            error = translate(exc, "routing")
            if counts_against_endpoint(error):
                self.breaker.record_failure()
            raise error from exc
        self.breaker.record_success()
        usage = response.usage
        tokens = {
            "input_tokens": usage.prompt_tokens if usage else None,
            "output_tokens": usage.completion_tokens if usage else None,
        }
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice else None
        for call in (message.tool_calls or []) if message else []:
            function = getattr(call, "function", None)
            if function is not None and function.name == name:
                return ToolCall(name=name, arguments=function.arguments or "", **tokens)
        # Weak models sometimes answer with the JSON as plain text instead of a call.
        content = (message.content or "").strip() if message else ""
        if content.startswith("{"):
            return ToolCall(name=name, arguments=content, **tokens)
        raise ModelError(f"The model did not call {name}.")

    async def moderate(self, text: str, *, model: str) -> ModerationVerdict:
        """The moderation endpoint's verdict on ``text``. Raises ``ModelError`` on failure.

        Moderation failures do not count against the chat circuit: many compatible servers
        have no moderation endpoint at all, which says nothing about their chat health.
        """
        try:
            async with asyncio.timeout(self.limits.moderation_timeout):
                response = await self.openai.moderations.create(model=model, input=text)
        except Exception as exc:
            raise translate(exc, "moderation") from exc
        if not response.results:
            raise ModelError("The moderation endpoint returned no result.")
        result = response.results[0]
        categories = result.categories.model_dump(by_alias=True) if result.categories else {}
        flagged = tuple(sorted(name for name, hit in categories.items() if hit))
        return ModerationVerdict(flagged=bool(result.flagged), categories=flagged)


async def _first_text(chunks: AsyncIterator[Chunk], completion: Completion) -> str:
    """Read chunks until one carries text; '' when the stream ends cleanly without any."""
    async for chunk in chunks:
        text = _absorb(chunk, completion)
        if text:
            return text
    if completion.finish_reason is None:
        raise ModelUnavailable("The model stream ended before any text.", retryable=True)
    return ""


def _absorb(chunk: Chunk, completion: Completion) -> str:
    """Note usage and finish reason from ``chunk``; return its text.

    The chunk is the endpoint's JSON, unvalidated, so every field is checked for its type.
    """
    usage = chunk.get("usage")
    if usage and isinstance(usage, dict):  # OpenAI sends "usage": null in all but the last
        completion.input_tokens = usage.get("prompt_tokens")
        completion.output_tokens = usage.get("completion_tokens")
    choices = chunk.get("choices")
    if not choices or not isinstance(choices, list):
        return ""  # the usage-only last chunk, or Azure's content-filter results
    text = ""
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        finish = choice.get("finish_reason")
        if finish and isinstance(finish, str):
            completion.finish_reason = finish
        delta = choice.get("delta")
        if delta and isinstance(delta, dict):
            content = delta.get("content")
            if content and isinstance(content, str):
                text += content
    return text


async def _close_quietly(stream: ChatStream) -> None:
    try:
        await stream.aclose()
    except Exception:
        log.debug("stream_close_failed", exc_info=True)
