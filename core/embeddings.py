"""Embeddings through any OpenAI-compatible ``/embeddings`` endpoint, in batches."""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Sequence
from typing import Any, Self

import openai
from openai import AsyncOpenAI

from core.errors import ConfigurationError, ModelError
from core.settings import Settings

# Most servers cap one request at 2,048 inputs; smaller batches keep a request's body modest.
DEFAULT_BATCH = 128


class OpenAIEmbedder:
    """Turns texts into vectors with the openai SDK; implements ``core.ingest.Embedder``.

    ``model`` and ``dimensions`` name the vector space. ``dimensions`` is sent only when set
    (models such as text-embedding-3 shorten their vectors on request; most servers have one
    fixed size). The client is created here and closed by ``aclose``.
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = DEFAULT_BATCH,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        self.dimensions = dimensions
        self._batch_size = max(1, batch_size)
        # A local server needs no key, but the SDK refuses to start without one.
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            timeout=timeout,
            max_retries=max_retries,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if not settings.embeddings_configured or settings.embedding_model is None:
            raise ConfigurationError(
                "No embedding model is configured (set OPENAI_BASE_URL or OPENAI_API_KEY and "
                "SWITCHBOARD_EMBEDDING_MODEL)."
            )
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return cls(
            model=settings.embedding_model,
            base_url=settings.openai_base_url,
            api_key=key,
            dimensions=settings.embedding_dimensions,
            batch_size=settings.embedding_batch_size,
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Raises ``ModelError`` when the endpoint fails."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._batch(list(texts[start:start + self._batch_size])))
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        return (await self._batch([text]))[0]

    async def _batch(self, texts: list[str]) -> list[list[float]]:
        # An empty string is an error for some servers; a space embeds as "nothing".
        inputs = [t if t.strip() else " " for t in texts]
        extra = {"dimensions": self.dimensions} if self.dimensions else {}
        try:
            # The raw response: the SDK's typed models build every float as an object, which
            # costs more than the embedding model itself at ingest. base64 is a quarter of the
            # bytes; servers that ignore it answer plain lists, which are read as well.
            raw = await self._client.embeddings.with_raw_response.create(
                model=self.model, input=inputs, encoding_format="base64", **extra
            )
            payload = raw.http_response.json()
        except openai.APIStatusError as exc:
            raise ModelError(
                f"The embedding endpoint answered {exc.status_code} for model {self.model}: "
                f"{_reason(exc)}",
                status=exc.status_code,
                retryable=exc.status_code == 429 or exc.status_code >= 500,
            ) from exc
        except openai.APIConnectionError as exc:
            raise ModelError(
                f"Cannot reach the embedding endpoint ({exc.__class__.__name__}).", retryable=True
            ) from exc
        except openai.OpenAIError as exc:
            raise ModelError(f"The embedding endpoint failed: {exc}") from exc
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

    async def aclose(self) -> None:
        await self._client.close()


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
