"""The model endpoint: how long to wait for it and how to reach it (``ModelLimits``, the SDK
client), what its answers report (``Completion``, ``ToolCall``, ``ModerationVerdict``), and what
its failures mean (``translate``: endpoint trouble or a bad request; when to retry)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI

from core.errors import ConfigurationError, ModelError, ModelUnavailable
from core.settings import Settings

# Statuses that say "this endpoint is not usable right now", as opposed to "this request is bad".
_ENDPOINT_DOWN = frozenset({401, 403, 404, 408, 409, 429})


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """How long to wait and how often to retry. All durations in seconds."""

    connect_timeout: float = 5.0
    first_token_timeout: float = 20.0  # per attempt: from sending the request to the first text
    idle_timeout: float = 30.0  # the longest silence allowed inside a stream
    total_timeout: float = 180.0  # one whole answer, retries included
    retries: int = 2  # extra attempts on 429/5xx/timeouts, before the first token only
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    tool_timeout: float = 5.0  # a non-streamed tool call (routing)
    moderation_timeout: float = 5.0
    stream_usage: bool = True  # ask for token usage in the last chunk (stream_options)
    # Prompt tokens the endpoint reads a second; None: measured from its first tokens. The
    # first-token wait is first_token_timeout plus the time to read the prompt at this pace.
    prompt_tokens_per_s: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            connect_timeout=settings.model_connect_timeout,
            first_token_timeout=settings.model_first_token_timeout,
            idle_timeout=settings.model_idle_timeout,
            total_timeout=settings.model_total_timeout,
            retries=settings.model_retries,
            backoff_base=settings.model_backoff_base,
            backoff_max=settings.model_backoff_max,
            tool_timeout=settings.router_timeout,
            moderation_timeout=settings.moderation_timeout,
            stream_usage=settings.model_stream_usage,
            prompt_tokens_per_s=settings.model_prompt_tokens_per_s,
        )


@dataclass(slots=True)
class Completion:
    """What a stream reported about itself; filled in while it runs."""

    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for. ``arguments`` is the raw JSON text it produced."""

    name: str
    arguments: str
    input_tokens: int | None = None
    output_tokens: int | None = None

    def parsed(self) -> dict[str, Any]:
        """The arguments as an object; ``ModelError`` when they are not one."""
        try:
            value = json.loads(self.arguments)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"The model's {self.name} arguments are not JSON.") from exc
        if not isinstance(value, dict):
            raise ModelError(f"The model's {self.name} arguments are not a JSON object.")
        return value


@dataclass(frozen=True, slots=True)
class ModerationVerdict:
    flagged: bool
    categories: tuple[str, ...] = field(default=())


def backoff_delay(
    attempt: int, *, base: float, cap: float, retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, …): full jitter under an
    exponential ceiling, or the server's ``Retry-After`` when it gave one."""
    if retry_after is not None:
        return max(0.0, retry_after)
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return (rng or random).uniform(0, ceiling)


def build_openai_client(settings: Settings, limits: ModelLimits | None = None) -> AsyncOpenAI:
    """An ``AsyncOpenAI`` (or ``AsyncAzureOpenAI`` when ``OPENAI_API_VERSION`` is set) for
    ``settings``, with the SDK's own retries off. Share it; close it with ``await c.close()``.

    With Azure OpenAI, ``OPENAI_BASE_URL`` is the resource endpoint
    (``https://NAME.openai.azure.com``) and every model setting names a *deployment*.
    """
    limits = limits or ModelLimits.from_settings(settings)
    timeout = openai.Timeout(
        limits.total_timeout, connect=limits.connect_timeout, read=limits.idle_timeout
    )
    # A local server needs no key, but the SDK refuses to start without one.
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
    if settings.openai_api_version:
        if not settings.openai_base_url:
            raise ConfigurationError(
                "OPENAI_API_VERSION (Azure OpenAI) needs OPENAI_BASE_URL, the resource endpoint."
            )
        return AsyncAzureOpenAI(
            azure_endpoint=settings.openai_base_url,
            api_version=settings.openai_api_version,
            api_key=key,
            timeout=timeout,
            max_retries=0,
            http_client=_http_client(timeout),
        )
    return AsyncOpenAI(
        base_url=settings.openai_base_url, api_key=key, timeout=timeout, max_retries=0,
        http_client=_http_client(timeout),
    )


def _http_client(timeout: openai.Timeout) -> Any:
    """The SDK's aiohttp transport (``openai[aiohttp]``), as the rest of the product uses: a
    third less CPU per streamed request than its default httpx one (docs/benchmarks.md, round
    six). None (the SDK's default) when the SDK was installed without it, or predates it."""
    aiohttp_client = getattr(openai, "DefaultAioHttpClient", None)
    try:
        return aiohttp_client(timeout=timeout) if aiohttp_client is not None else None
    except RuntimeError:
        return None


class EndpointRefused(Exception):
    """The endpoint answered a request we sent ourselves (not through the SDK) with an error
    status: ``translate`` reads it as it reads the SDK's ``APIStatusError``."""

    def __init__(self, status: int, headers: Mapping[str, str], detail: str = "") -> None:
        super().__init__(f"HTTP {status}: {detail[:300]}" if detail else f"HTTP {status}")
        self.status = status
        self.headers = headers


def retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, EndpointRefused):
        value = exc.headers.get("retry-after")
    else:
        response = getattr(exc, "response", None)
        value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is the endpoint being slow rather than unreachable. The SDK's aiohttp
    transport reports a refused or dropped connection as a connect timeout too; the
    transport's own error, underneath, tells the two apart."""
    if isinstance(exc, asyncio.TimeoutError):
        return True
    if not isinstance(exc, openai.APITimeoutError):
        return False
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientError) and not isinstance(cause, asyncio.TimeoutError):
            return False
        cause = cause.__cause__
    return True


def translate(exc: BaseException, what: str) -> ModelError:
    """An SDK or transport error as a ModelUnavailable (endpoint trouble) or ModelError."""
    if isinstance(exc, ModelError):
        return exc
    if timed_out(exc):
        return ModelUnavailable(f"The model did not answer {what} in time.", retryable=True)
    if isinstance(exc, openai.APIConnectionError | aiohttp.ClientError):
        return ModelUnavailable(f"Cannot reach the model endpoint for {what}.", retryable=True)
    status: int | None = None
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
    elif isinstance(exc, EndpointRefused):
        status = exc.status
    if status is not None:
        retryable = status in (408, 409, 429) or status >= 500
        cls = ModelUnavailable if retryable or status in _ENDPOINT_DOWN else ModelError
        return cls(
            f"The model endpoint answered {status} for {what}.", status=status, retryable=retryable
        )
    return ModelError(f"The model endpoint failed for {what}: {type(exc).__name__}.")


def counts_against_endpoint(error: ModelError) -> bool:
    """A bad request (400, 422) is our fault, not the endpoint's: it must not open the circuit."""
    return isinstance(error, ModelUnavailable)
