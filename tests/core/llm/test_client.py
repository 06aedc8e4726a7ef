"""The model client against the fake endpoint over HTTP: streaming, retries, timeouts, breaker."""

from __future__ import annotations

import asyncio
import socket

import pytest

from core.errors import ModelError, ModelUnavailable, StreamInterrupted
from core.llm.breaker import BreakerState, CircuitBreaker
from core.llm.client import Completion, ModelClient, ModelLimits, build_openai_client
from core.settings import Settings
from tests.core.llm.conftest import API_KEY, with_model
from tests.support.fake_openai import FakeOpenAI

QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]


@pytest.fixture
def bare_settings(fake_url: str) -> Settings:
    return with_model(Settings(_env_file=None), fake_url)


async def collect(client: ModelClient, completion: Completion | None = None) -> list[str]:
    return [delta async for delta in client.stream_chat(QUESTION, completion=completion)]


def client_for(settings: Settings, **overrides: object) -> ModelClient:
    return ModelClient.from_settings(settings.model_copy(update=overrides))


async def test_answer_arrives_in_pieces_with_the_endpoints_token_counts(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.replies = ["Hello there, how can I help you today?"]
    client = client_for(bare_settings)
    completion = Completion()
    deltas = await collect(client, completion)
    await client.aclose()

    assert "".join(deltas) == "Hello there, how can I help you today?"
    assert len(deltas) > 1
    assert completion.finish_reason == "stop"
    assert completion.output_tokens == 8 and completion.input_tokens and completion.input_tokens > 0
    sent = fake.bodies("chat")[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert fake.headers[0]["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_transient_failures_before_the_first_token_are_retried(
    fake: FakeOpenAI, bare_settings: Settings, status: int
):
    fake.replies = ["Recovered."]
    fake.behaviour.fail_status, fake.behaviour.fail_times = status, 2
    client = client_for(bare_settings, model_retries=2)
    assert "".join(await collect(client)) == "Recovered."
    await client.aclose()
    assert fake.count("chat") == 3


async def test_retries_are_bounded_and_end_in_model_unavailable(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.behaviour.fail_status = 500
    client = client_for(bare_settings, model_retries=2)
    with pytest.raises(ModelUnavailable) as caught:
        await collect(client)
    await client.aclose()
    assert caught.value.status == 500
    assert fake.count("chat") == 3


async def test_a_long_retry_after_is_not_waited_for(fake: FakeOpenAI, bare_settings: Settings):
    fake.behaviour.fail_status, fake.behaviour.retry_after = 429, "120"
    client = client_for(bare_settings, model_retries=3, model_backoff_max=1.0)
    with pytest.raises(ModelUnavailable):
        await collect(client)
    await client.aclose()
    assert fake.count("chat") == 1


async def test_a_bad_request_is_not_retried_and_does_not_open_the_circuit(
    fake: FakeOpenAI, bare_settings: Settings
):
    client = client_for(bare_settings, breaker_failures=1)
    with pytest.raises(ModelError) as caught:
        async for _ in client.stream_chat([{"role": "robot", "content": "beep"}]):
            pass
    assert not isinstance(caught.value, ModelUnavailable)
    assert caught.value.status == 400
    assert client.breaker.state is BreakerState.CLOSED
    await client.aclose()
    assert fake.count("chat") == 1


async def test_a_model_that_never_starts_answering_times_out(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.behaviour.ttft_s = 5
    client = client_for(bare_settings, model_first_token_timeout=0.3, model_retries=0)
    with pytest.raises(ModelUnavailable, match="in time"):
        await collect(client)
    await client.aclose()


async def test_a_cut_stream_raises_after_the_text_that_arrived(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.replies = ["one two three four five six seven"]
    fake.behaviour.cut_after_tokens = 3
    client = client_for(bare_settings)
    received: list[str] = []
    with pytest.raises(StreamInterrupted):
        async for delta in client.stream_chat(QUESTION):
            received.append(delta)
    await client.aclose()
    assert "".join(received) == "one two three "
    assert fake.count("chat") == 1  # text was shown: never retried, so never shown twice


async def test_a_stalled_stream_is_ended_by_the_idle_timeout(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.replies = ["one two three four"]
    fake.behaviour.stall_after_tokens = 2
    client = client_for(bare_settings, model_idle_timeout=0.3)
    received: list[str] = []
    with pytest.raises(StreamInterrupted):
        async for delta in client.stream_chat(QUESTION):
            received.append(delta)
    await client.aclose()
    assert "".join(received) == "one two "


async def test_circuit_opens_after_repeated_failures_then_lets_one_trial_through(
    fake: FakeOpenAI, bare_settings: Settings
):
    now = [1000.0]
    breaker = CircuitBreaker(failures=2, cooldown=30, clock=lambda: now[0])
    limits = ModelLimits(retries=0, first_token_timeout=5, idle_timeout=2)
    client = ModelClient(
        build_openai_client(bare_settings, limits), chat_model="gpt-4o-mini",
        limits=limits, breaker=breaker,
    )
    fake.behaviour.fail_status = 500
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            await collect(client)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(ModelUnavailable, match="not calling it"):
        await collect(client)
    assert fake.count("chat") == 2  # the open circuit sent nothing

    now[0] += 31  # cooldown over: one trial call, which fails, so it opens again
    with pytest.raises(ModelUnavailable):
        await collect(client)
    assert fake.count("chat") == 3
    assert breaker.state is BreakerState.OPEN

    now[0] += 31
    fake.behaviour.fail_status = None
    fake.replies = ["Back."]
    assert "".join(await collect(client)) == "Back."
    assert breaker.state is BreakerState.CLOSED
    await client.aclose()


async def test_azure_openai_uses_the_deployment_path_api_version_and_api_key(
    fake: FakeOpenAI, fake_url: str
):
    settings = with_model(
        Settings(_env_file=None), fake_url.removesuffix("/v1"),
        openai_api_version="2024-10-21", chat_model="answers-deployment",
    )
    fake.replies = ["From Azure."]
    client = ModelClient.from_settings(settings)
    assert "".join(await collect(client)) == "From Azure."
    await client.aclose()
    assert fake.bodies("chat")[0]["model"] == "answers-deployment"
    assert fake.headers[0]["api-key"] == API_KEY


async def test_an_endpoint_nobody_listens_on_is_unreachable_not_slow(bare_settings: Settings):
    with socket.socket() as s:  # a port that was free a moment ago, now closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = client_for(
        bare_settings, openai_base_url=f"http://127.0.0.1:{port}/v1", model_retries=1
    )
    with pytest.raises(ModelUnavailable, match="Cannot reach the model endpoint"):
        await collect(client)
    await client.aclose()


async def test_a_burst_of_answers_reaches_the_endpoint_at_once(
    fake: FakeOpenAI, bare_settings: Settings
):
    # Every prompt takes the endpoint a while to read: all 150 requests must be there at the
    # same time, not a pool's worth first and the rest when those are done.
    fake.behaviour.prompt_tokens_per_s = 10
    fake.default_reply = "Here."
    client = client_for(bare_settings)
    answers = await asyncio.gather(*(collect(client) for _ in range(150)))
    await client.aclose()
    assert ["".join(a) for a in answers] == ["Here."] * 150
    assert fake.peak_prompts_reading == 150
