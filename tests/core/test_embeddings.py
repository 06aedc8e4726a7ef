"""The embedder through the real openai client against a local OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from core.embeddings import OpenAIEmbedder
from core.errors import ConfigurationError, ModelError
from core.settings import Settings
from tests.support.fake_openai import FakeOpenAI, hashed_embedding
from tests.support.services import free_port


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    server = FakeOpenAI(dimensions=48)
    runner = web.AppRunner(server.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield server, f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


async def test_texts_are_embedded_in_batches_and_in_order(fake):
    server, url = fake
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url, batch_size=64)
    texts = [f"document number {i} about topic {i % 7}" for i in range(150)]
    try:
        vectors = await embedder.embed(texts)
    finally:
        await embedder.aclose()

    sizes = [len(body["input"]) for kind, body in server.requests if kind == "embeddings"]
    assert sizes == [64, 64, 22]
    assert vectors == [pytest.approx(hashed_embedding(t, 48, {})) for t in texts]


async def test_configured_dimension_is_requested(fake):
    server, url = fake
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url, dimensions=16)
    try:
        (vector,) = await embedder.embed(["hello"])
    finally:
        await embedder.aclose()
    assert len(vector) == 16 and server.requests[-1][1]["dimensions"] == 16


async def test_empty_text_does_not_break_a_batch(fake):
    _, url = fake
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url)
    try:
        vectors = await embedder.embed(["hello", "", "world"])
    finally:
        await embedder.aclose()
    assert len(vectors) == 3


async def test_endpoint_failure_is_a_model_error_naming_the_status(fake):
    server, url = fake
    server.behaviour.fail_status = 500
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url, max_retries=0)
    try:
        with pytest.raises(ModelError) as caught:
            await embedder.embed(["hello"])
    finally:
        await embedder.aclose()
    assert caught.value.status == 500 and caught.value.retryable
    assert "500" in str(caught.value) and "fake-embed" in str(caught.value)


async def test_unreachable_endpoint_is_a_model_error():
    embedder = OpenAIEmbedder(
        model="fake-embed", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0
    )
    try:
        with pytest.raises(ModelError, match="Cannot reach the embedding endpoint"):
            await embedder.embed(["hello"])
    finally:
        await embedder.aclose()


def test_settings_without_an_embedding_model_are_refused():
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_EMBEDDING_MODEL"):
        OpenAIEmbedder.from_settings(Settings(_env_file=None, openai_base_url="http://x/v1"))
