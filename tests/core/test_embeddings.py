"""The embedder through the real openai client against a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import aiohttp
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


async def _in_flight(server: FakeOpenAI, requests: int) -> None:
    """Wait (two seconds at most) until the fake is answering ``requests`` embeddings requests."""
    for _ in range(400):
        if server.embeddings_in_flight >= requests:
            return
        await asyncio.sleep(0.005)


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


def _float32(vector: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


async def test_vectors_arrive_as_base64_float32(fake):
    server, url = fake
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url)
    texts = ["holiday allowance", "printer code E4471"]
    try:
        vectors = await embedder.embed(texts)
        many = await embedder.embed_many(texts)
    finally:
        await embedder.aclose()
    assert {body["encoding_format"] for body in server.bodies("embeddings")} == {"base64"}
    # Exactly the float32 values the server packed: the base64 path decoded them, not a list.
    assert vectors == many == [_float32(hashed_embedding(t, 48, {})) for t in texts]


async def test_the_fake_answers_base64_only_when_asked(fake):
    _, url = fake
    async with aiohttp.ClientSession() as session:
        for encoding, kind in (("base64", str), ("float", list)):
            async with session.post(
                f"{url}/embeddings",
                json={"model": "m", "input": ["hello"], "encoding_format": encoding},
            ) as response:
                body = await response.json()
            assert isinstance(body["data"][0]["embedding"], kind)


async def test_an_ingest_keeps_several_requests_in_flight_and_vectors_in_order(fake):
    server, url = fake
    server.behaviour.embedding_latency_s = 0.05
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url, batch_size=4, concurrency=3)
    texts = [f"note {i} about gadget{i}" for i in range(40)]
    try:
        vectors = await embedder.embed_many(texts)
    finally:
        await embedder.aclose()
    assert server.peak_embeddings_in_flight == 3
    assert vectors == [_float32(hashed_embedding(t, 48, {})) for t in texts]


async def test_a_rate_limit_slows_an_ingest_instead_of_failing_it(fake):
    server, url = fake
    server.behaviour.embedding_latency_s = 0.02
    server.behaviour.max_concurrent_embeddings = 2
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url, batch_size=2, concurrency=6)
    texts = [f"chunk {i} on topic {i % 5}" for i in range(40)]
    try:
        vectors = await embedder.embed_many(texts)
    finally:
        await embedder.aclose()
    assert server.embeddings_refused > 0, "the endpoint's limit was never reached"
    assert vectors == [_float32(hashed_embedding(t, 48, {})) for t in texts]


async def test_a_rate_limit_that_never_lifts_fails_with_a_clear_message(fake):
    server, url = fake
    server.behaviour.fail_status = 429
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url)
    try:
        with pytest.raises(ModelError) as caught:
            await embedder.embed_many(["hello", "world"])
    finally:
        await embedder.aclose()
    assert caught.value.status == 429
    assert "rate limited" in str(caught.value)
    assert "SWITCHBOARD_EMBEDDING_CONCURRENCY" in str(caught.value)


async def test_a_retry_after_beyond_patience_fails_without_waiting_it_out(fake):
    server, url = fake
    server.behaviour.fail_status = 429
    server.behaviour.retry_after = "3600"  # a daily quota, say
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url, rate_limit_wait=30)
    try:
        with pytest.raises(ModelError, match="429"):
            await embedder.embed_many(["hello"])
    finally:
        await embedder.aclose()
    assert server.count("embeddings") == 1


async def test_a_question_is_not_queued_behind_an_ingest(fake):
    server, url = fake
    server.behaviour.embedding_latency_s = 0.2
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url, batch_size=1, concurrency=1)
    try:
        ingest = asyncio.create_task(embedder.embed_many(["a", "b", "c"]))
        await _in_flight(server, 1)
        (vector,) = await embedder.embed(["what is the holiday allowance?"])
        await ingest
    finally:
        await embedder.aclose()
    # The ingest's one slot was taken, yet the question's request went out beside it.
    assert server.peak_embeddings_in_flight == 2
    assert vector == _float32(hashed_embedding("what is the holiday allowance?", 48, {}))


async def test_azure_openai_settings_reach_the_deployment_as_chat_does(fake):
    server, url = fake
    settings = Settings(
        _env_file=None,
        openai_base_url=url.removesuffix("/v1"),
        openai_api_key="azure-key",
        openai_api_version="2024-10-21",
        embedding_model="embeddings-deployment",
    )
    embedder = OpenAIEmbedder.from_settings(settings)
    try:
        (vector,) = await embedder.embed(["hello"])
    finally:
        await embedder.aclose()
    assert len(vector) == 48
    assert server.bodies("embeddings")[-1]["model"] == "embeddings-deployment"
    assert server.headers[-1].get("api-key") == "azure-key"


async def test_a_question_embedded_ahead_is_asked_for_once(fake):
    server, url = fake
    server.behaviour.embedding_latency_s = 0.1
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url)
    question = "how many days of parental leave do I get?"
    try:
        embedder.ahead(question)
        await _in_flight(server, 1)  # the request is out before anyone asks for the vector
        assert server.embeddings_in_flight == 1
        # The verified answer's match and the search ask at once, while it is still out.
        first, second = await asyncio.gather(
            embedder.embed_query(question), embedder.embed([question])
        )
        again = await embedder.embed_query(question)
    finally:
        await embedder.aclose()
    assert server.count("embeddings") == 1
    expected = _float32(hashed_embedding(question, 48, {}))
    assert first == expected and second == [expected] and again == expected


async def test_a_failed_request_made_ahead_fails_whoever_asks_and_is_asked_again(fake):
    server, url = fake
    server.behaviour.fail_status = 500
    server.behaviour.fail_times = 1
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url, max_retries=0)
    try:
        embedder.ahead("what is the VPN address?")
        with pytest.raises(ModelError):
            await embedder.embed_query("what is the VPN address?")
        # A failure is not remembered: the next question asks the endpoint again.
        vector = await embedder.embed_query("what is the VPN address?")
    finally:
        await embedder.aclose()
    assert server.count("embeddings") == 2
    assert vector == _float32(hashed_embedding("what is the VPN address?", 48, {}))


async def test_nothing_is_requested_ahead_for_a_blank_text_or_one_already_known(fake):
    server, url = fake
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url)
    try:
        await embedder.embed_query("printer on floor 3")
        embedder.ahead("printer on floor 3")
        embedder.ahead("   ")
        await asyncio.sleep(0.05)
    finally:
        await embedder.aclose()
    assert server.count("embeddings") == 1


async def test_a_burst_asks_ahead_for_no_more_vectors_than_its_concurrency(fake):
    server, url = fake
    server.behaviour.embedding_latency_s = 0.2
    embedder = OpenAIEmbedder(model="fake-embed", base_url=url, concurrency=3)
    questions = [f"where is the office in city number {i}?" for i in range(10)]
    try:
        for question in questions:
            embedder.ahead(question)
        await _in_flight(server, 3)
        await asyncio.sleep(0.05)
        assert server.embeddings_in_flight == 3
        # The others are asked for when their search needs them, and all arrive.
        vectors = await asyncio.gather(*(embedder.embed_query(q) for q in questions))
    finally:
        await embedder.aclose()
    assert server.count("embeddings") == 10
    assert vectors == [_float32(hashed_embedding(q, 48, {})) for q in questions]
