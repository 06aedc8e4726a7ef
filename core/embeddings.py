"""Embeddings through any OpenAI-compatible ``/embeddings`` endpoint, in batches.

Two ways in. ``embed`` serves a question at ask time (and small jobs): one request after the
other, a couple of quick retries, never queued behind an ingest. ``embed_many`` serves ingestion:
its requests share one window of at most ``concurrency`` in flight per endpoint, because a remote
endpoint's time is mostly network and queueing, so throughput comes from overlapping requests.
A 429 shrinks the window and is waited out (``Retry-After``), so a rate limit slows an ingest
instead of failing it; only a limit that outlasts ``rate_limit_wait`` (or refuses one request 50
times in a row) fails it, with a message.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import sys
from array import array
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self

import openai
import structlog
from openai import AsyncOpenAI
from pydantic import SecretStr

from core.errors import ConfigurationError, ModelError
from core.llm.client import ModelLimits, backoff_delay, build_openai_client
from core.llm.endpoint import timed_out
from core.settings import Settings

log = structlog.get_logger(__name__)

# Most servers cap one request at 2,048 inputs; smaller batches keep a request's body modest.
DEFAULT_BATCH = 128
# Requests in flight while ingesting, chosen by measurement (docs/benchmarks.md, ingest
# throughput, remote embedding endpoint): throughput grows with it up to the endpoint's limit
# (1 → 8: 5.6×), and asking above the limit cost 17 % (the window shrinks on 429s), so
# erring high is cheaper than erring low.
DEFAULT_CONCURRENCY = 8
# How long one ingest request may spend waiting out 429s before the ingest reports a failure.
DEFAULT_RATE_LIMIT_WAIT = 300.0
# Questions whose vectors are remembered (a few hundred KB at 384 dimensions).
_RECENT_QUERIES = 256
# 429s in a row for one request before giving up, however short the waits they asked for.
_MAX_THROTTLES = 50
_BACKOFF_BASE = 0.5
_BACKOFF_MAX = 8.0


class RequestWindow:
    """How many embedding requests may be in flight at once.

    At most ``ceiling``; a 429 or a timeout (the endpoint pushing back) lowers the limit to one
    below what was in flight, and a long run of successes raises it one step again, so an
    ingest settles just under whatever the endpoint allows.
    """

    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.in_flight = 0
        self._streak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        while self.in_flight >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._wake()

    def pushed_back(self) -> None:
        self.limit = max(1, min(self.limit, self.in_flight) - 1)
        self._streak = 0

    def kept_up(self) -> None:
        self._streak += 1
        # Probing one step higher costs a 429 at worst; doing it rarely keeps that cheap.
        if self.limit < self.ceiling and self._streak >= 8 * self.limit:
            self.limit += 1
            self._streak = 0
            self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


class OpenAIEmbedder:
    """Turns texts into vectors with the openai SDK; implements ``core.ingest.BulkEmbedder``.

    ``model`` and ``dimensions`` name the vector space. ``dimensions`` is sent only when set
    (models such as text-embedding-3 shorten their vectors on request; most servers have one
    fixed size). The client comes from ``core.llm.build_openai_client`` (so Azure OpenAI works
    as it does for chat), built here from ``base_url``/``api_key`` unless ``client`` is given;
    either way ``aclose`` closes it.
    """

    def __init__(
        self,
        *,
        model: str,
        client: AsyncOpenAI | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = DEFAULT_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = 60.0,
        max_retries: int = 2,
        rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT,
    ) -> None:
        self.model = model
        self.dimensions = dimensions
        self.concurrency = max(1, concurrency)
        self._batch_size = max(1, batch_size)
        self._retries = max(0, max_retries)
        self._timeout = timeout
        self._rate_limit_wait = rate_limit_wait
        self._window = RequestWindow(self.concurrency)
        # The last questions' vectors: one question is embedded for the verified-answer match
        # and again for retrieval; the second asks no endpoint (core/verified, store/retrieval).
        self._recent: OrderedDict[str, list[float]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[list[float]]] = {}
        if client is None:
            # Only the endpoint's fields matter here; nothing is read from the environment.
            endpoint = Settings.model_construct(
                openai_base_url=base_url,
                openai_api_key=SecretStr(api_key) if api_key else None,
            )
            client = build_openai_client(endpoint, _limits(timeout))
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if not settings.embeddings_configured or settings.embedding_model is None:
            raise ConfigurationError(
                "No embedding model is configured (set OPENAI_BASE_URL or OPENAI_API_KEY and "
                "SWITCHBOARD_EMBEDDING_MODEL)."
            )
        return cls(
            model=settings.embedding_model,
            client=build_openai_client(
                settings, _limits(60.0, connect=settings.model_connect_timeout)
            ),
            dimensions=settings.embedding_dimensions,
            batch_size=settings.embedding_batch_size,
            concurrency=settings.embedding_concurrency,
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, one request at a time: for a question or a few
        texts. Raises ``ModelError`` when the endpoint fails."""
        if len(texts) == 1:
            return [await self.embed_query(texts[0])]
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._batch(list(texts[start:start + self._batch_size])))
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """One question's vector; the last few questions' are remembered, and a question
        asked for while its request is out (``ahead``) waits for that request."""
        vector = self._recent.get(text)
        if vector is not None:
            self._recent.move_to_end(text)
            return vector
        return await asyncio.shield(self._request(text))

    def ahead(self, text: str) -> None:
        """Start embedding ``text`` now, for an ``embed_query`` of it soon after: the
        request runs while the caller does other work. Its failure is told to whoever asks.

        Only while fewer than ``concurrency`` questions' requests are out: in a burst the
        rest are asked for when they are needed, rather than all at the burst's start, where
        they would slow everyone's first steps."""
        if text.strip() and text not in self._recent and len(self._pending) < self.concurrency:
            self._request(text)

    def _request(self, text: str) -> asyncio.Future[list[float]]:
        pending = self._pending.get(text)
        if pending is None:
            pending = asyncio.ensure_future(self._one(text))
            self._pending[text] = pending
            pending.add_done_callback(functools.partial(self._landed, text))
        return pending

    async def _one(self, text: str) -> list[float]:
        return (await self._batch([text]))[0]

    def _landed(self, text: str, request: asyncio.Future[list[float]]) -> None:
        del self._pending[text]
        if request.cancelled() or request.exception() is not None:
            return  # read here, so an error nobody waited for is not reported as unread
        self._recent[text] = request.result()
        if len(self._recent) > _RECENT_QUERIES:
            self._recent.popitem(last=False)

    async def embed_many(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, for ingestion: batches go out together through the
        shared window and wait out rate limits. Raises ``ModelError`` when a batch cannot be
        embedded (the other batches of the call are then abandoned)."""
        batches = [
            list(texts[start:start + self._batch_size])
            for start in range(0, len(texts), self._batch_size)
        ]
        if len(batches) == 1:
            return await self._batch(batches[0], patient=True)
        tasks = [asyncio.create_task(self._batch(b, patient=True)) for b in batches]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [vector for vectors in results for vector in vectors]

    async def _batch(self, texts: list[str], *, patient: bool = False) -> list[list[float]]:
        # An empty string is an error for some servers; a space embeds as "nothing".
        inputs = [t if t.strip() else " " for t in texts]
        payload = await (self._patiently(inputs) if patient else self._promptly(inputs))
        try:
            data = sorted(payload["data"], key=lambda item: int(item["index"]))
            vectors = [_vector(item["embedding"]) for item in data]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"The embedding endpoint answered an unexpected body ({exc}).") from exc
        if len(vectors) != len(inputs):
            raise ModelError(
                f"The embedding endpoint returned {len(vectors)} vectors for {len(inputs)} texts."
            )
        size = len(vectors[0]) if vectors else 0
        if not size or any(len(v) != size for v in vectors):
            raise ModelError("The embedding endpoint returned vectors of differing sizes.")
        return vectors

    async def _promptly(self, inputs: list[str]) -> Any:
        """Ask; on 429/5xx/timeouts try again ``max_retries`` times after a short pause."""
        attempt = 0
        while True:
            try:
                return await self._post(inputs)
            except _Retryable as retry:
                attempt += 1
                delay = backoff_delay(
                    attempt, base=_BACKOFF_BASE, cap=_BACKOFF_MAX, retry_after=retry.after
                )
                # A question should not wait long for its vector: full text answers meanwhile.
                if attempt > self._retries or delay > _BACKOFF_MAX:
                    raise retry.error from retry
                await asyncio.sleep(delay)

    async def _patiently(self, inputs: list[str]) -> Any:
        """Ask within the window; wait out 429s for up to ``rate_limit_wait`` seconds, and
        retry other transient failures ``max_retries`` times."""
        failures = throttles = 0
        waited = 0.0
        while True:
            try:
                async with self._window.slot():
                    try:
                        payload = await self._post(inputs, patient=True)
                    except _Retryable as retry:
                        if retry.error.status == 429 or retry.timed_out:
                            self._window.pushed_back()
                        raise
                    self._window.kept_up()
                    return payload
            except _Retryable as retry:
                if retry.error.status == 429:
                    throttles += 1
                    delay = backoff_delay(
                        throttles, base=_BACKOFF_BASE, cap=_BACKOFF_MAX, retry_after=retry.after
                    )
                    if throttles > _MAX_THROTTLES or waited + delay > self._rate_limit_wait:
                        raise ModelError(
                            f"The embedding endpoint kept answering 429 (rate limited) for "
                            f"model {self.model}: gave up after {throttles} tries and "
                            f"{waited:.0f} s of waiting. Lower SWITCHBOARD_EMBEDDING_CONCURRENCY "
                            f"or raise the endpoint's quota.",
                            status=429,
                            retryable=True,
                        ) from retry
                    log.info("embedding_rate_limited", retry_in_s=round(delay, 2),
                             window=self._window.limit)
                else:
                    failures += 1
                    delay = backoff_delay(
                        failures, base=_BACKOFF_BASE, cap=_BACKOFF_MAX, retry_after=retry.after
                    )
                    if failures > self._retries or waited + delay > self._rate_limit_wait:
                        raise retry.error from retry
                waited += delay
                await asyncio.sleep(delay)

    async def _post(self, inputs: list[str], *, patient: bool = False) -> Any:
        """One request; the body as parsed JSON. Raises ``_Retryable`` or ``ModelError``."""
        extra: dict[str, Any] = {"dimensions": self.dimensions} if self.dimensions else {}
        if patient and self.concurrency > 1:
            # A server that works on one request at a time answers the last of a window only
            # after the others: that wait is queueing, not a hung endpoint.
            extra["timeout"] = openai.Timeout(
                self._timeout * self.concurrency, connect=min(5.0, self._timeout)
            )
        try:
            # The raw response: the SDK's typed models build every float as an object, which
            # costs more than the embedding model itself at ingest. base64 is a quarter of the
            # bytes; servers that ignore it answer plain lists, which are read as well.
            raw = await self._client.embeddings.with_raw_response.create(
                model=self.model, input=inputs, encoding_format="base64", **extra
            )
            return raw.http_response.json()
        except openai.APIStatusError as exc:
            status = exc.status_code
            error = ModelError(
                f"The embedding endpoint answered {status} for model {self.model}: "
                f"{_reason(exc)}",
                status=status,
                retryable=status in (408, 409, 429) or status >= 500,
            )
            if error.retryable:
                raise _Retryable(error, after=_retry_after(exc.response.headers)) from exc
            raise error from exc
        except openai.APIConnectionError as exc:
            slow = timed_out(exc)
            error = ModelError(
                "The embedding endpoint did not answer in time."
                if slow
                else f"Cannot reach the embedding endpoint ({exc.__class__.__name__}).",
                retryable=True,
            )
            raise _Retryable(error, timed_out=slow) from exc
        except openai.OpenAIError as exc:
            raise ModelError(f"The embedding endpoint failed: {exc}") from exc
        except ValueError as exc:  # a 200 whose body is not JSON
            raise ModelError(f"The embedding endpoint answered an unexpected body ({exc}).") from exc

    async def aclose(self) -> None:
        await self._client.close()


class _Retryable(Exception):
    """A failure worth another try: its ``ModelError``, and the server's ``Retry-After``."""

    def __init__(
        self, error: ModelError, *, after: float | None = None, timed_out: bool = False
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.after = after
        self.timed_out = timed_out


def _limits(timeout: float, *, connect: float = 5.0) -> ModelLimits:
    # One request, start to end; a queued self-hosted model may take a while per batch.
    return ModelLimits(connect_timeout=min(connect, timeout), idle_timeout=timeout,
                       total_timeout=timeout)


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms`` (OpenAI, Azure) or
    ``retry-after`` in seconds; None when absent or an HTTP date."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


def _vector(value: Any) -> list[float]:
    """A vector from its JSON form: base64 of little-endian float32, or a list of numbers."""
    if isinstance(value, str):
        floats = array("f")
        floats.frombytes(base64.b64decode(value))
        if sys.byteorder != "little":
            floats.byteswap()
        return floats.tolist()
    if not isinstance(value, list):
        raise TypeError("embedding is neither base64 nor a list")
    return [float(x) for x in value]


def _reason(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)[:200]
    return exc.message[:200]
