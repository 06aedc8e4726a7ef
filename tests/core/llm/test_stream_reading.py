"""Reading a streamed answer off the wire: the model client against the fake endpoint over HTTP,
and against a scripted endpoint that writes the SSE bytes exactly as given (line endings,
comments, events cut between reads, Azure's content-filter chunks)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Sequence

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from core.errors import ModelError, ModelUnavailable, StreamInterrupted
from core.llm.client import Completion, ModelClient
from core.settings import Settings
from tests.core.llm.conftest import with_model
from tests.support.fake_openai import FakeOpenAI

QUESTION = [{"role": "user", "content": "How do I connect to the VPN?"}]
LONG_ANSWER = " ".join(f"step{n}" for n in range(1, 301)) + "."


@pytest.fixture
def bare_settings(fake_url: str) -> Settings:
    return with_model(Settings(_env_file=None), fake_url)


async def answer(client: ModelClient, completion: Completion | None = None) -> list[str]:
    try:
        return [delta async for delta in client.stream_chat(QUESTION, completion=completion)]
    finally:
        await client.aclose()


async def read_until_failure(client: ModelClient) -> tuple[str, ModelError]:
    """The text that arrived before the stream failed, and the failure."""
    shown: list[str] = []
    try:
        with pytest.raises(ModelError) as failure:
            async for delta in client.stream_chat(QUESTION):
                shown.append(delta)
    finally:
        await client.aclose()
    return "".join(shown), failure.value


# -- the fake endpoint ------------------------------------------------------------------------


async def test_a_long_answer_arrives_whole_and_in_order(fake: FakeOpenAI, bare_settings: Settings):
    fake.replies = [LONG_ANSWER]
    deltas = await answer(ModelClient.from_settings(bare_settings))
    assert "".join(deltas) == LONG_ANSWER
    # One piece a token, as sent: nothing merged, lost, doubled or reordered.
    assert deltas == [f"step{n} " for n in range(1, 300)] + ["step300."]


async def test_usage_from_the_last_chunk_is_recorded(fake: FakeOpenAI, bare_settings: Settings):
    fake.replies = ["Open the VPN app and sign in."]
    completion = Completion()
    await answer(ModelClient.from_settings(bare_settings), completion)
    sent = fake.bodies("chat")[0]
    assert sent["stream_options"] == {"include_usage": True}
    assert completion.output_tokens == 7
    assert completion.input_tokens == len(QUESTION[0]["content"].split()) + 4
    assert completion.finish_reason == "stop"


async def test_keep_alive_comments_do_not_reach_the_answer(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.replies = ["Open the VPN app and sign in."]
    fake.behaviour.keep_alive_comments = True
    completion = Completion()
    deltas = await answer(ModelClient.from_settings(bare_settings), completion)
    assert "".join(deltas) == "Open the VPN app and sign in."
    assert completion.output_tokens == 7


async def test_an_error_event_midway_ends_the_answer_with_the_endpoints_message(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.replies = ["Open the VPN app and sign in with your badge."]
    fake.behaviour.error_after_tokens = 3
    client = ModelClient.from_settings(bare_settings)
    shown, error = await read_until_failure(client)
    assert shown == "Open the VPN "
    assert isinstance(error, StreamInterrupted)
    assert "The server had an error while processing your request." in str(error)
    assert fake.count("chat") == 1  # text was shown: a retry would show it twice


async def test_an_error_event_before_any_text_is_a_model_error_not_an_empty_answer(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.replies = ["Never shown."]
    fake.behaviour.error_after_tokens = 0
    client = ModelClient.from_settings(bare_settings)
    shown, error = await read_until_failure(client)
    assert shown == ""
    assert type(error) is ModelError
    assert "The server had an error while processing your request." in str(error)
    # As the SDK's own stream errors were: not retried, and not held against the endpoint.
    assert fake.count("chat") == 1
    assert client.breaker.allow()


async def test_a_cut_stream_is_a_stream_interruption_after_the_text_that_arrived(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.replies = ["Open the VPN app and sign in with your badge."]
    fake.behaviour.cut_after_tokens = 4
    shown, error = await read_until_failure(ModelClient.from_settings(bare_settings))
    assert shown == "Open the VPN app "
    assert isinstance(error, StreamInterrupted)


async def test_a_429_before_the_first_token_is_retried_and_the_answer_shown_once(
    fake: FakeOpenAI, bare_settings: Settings
):
    fake.replies = ["Open the VPN app."]
    fake.behaviour.fail_status, fake.behaviour.fail_times = 429, 1
    completion = Completion()
    deltas = await answer(ModelClient.from_settings(bare_settings), completion)
    assert "".join(deltas) == "Open the VPN app."
    assert fake.count("chat") == 2 and completion.attempts == 2


async def test_a_401_is_not_retried(fake: FakeOpenAI, bare_settings: Settings):
    fake.api_key = "sk-another-key"
    client = ModelClient.from_settings(bare_settings)
    with pytest.raises(ModelUnavailable) as failure:
        await answer(client)
    assert failure.value.status == 401 and not failure.value.retryable
    assert fake.count("chat") == 0  # refused before the body was read


# -- a scripted endpoint ------------------------------------------------------------------------


def sse(payload: dict | str, *, end: bytes = b"\n") -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return b"data: " + data.encode() + end + end


def chunk(content: str | None = None, finish: str | None = None, **extra: object) -> dict:
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra,
    }


USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
FILTER = {"id": "", "object": "", "model": "", "choices": [],
          "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}


class ScriptedEndpoint:
    """Answers every chat request with ``pieces``, each written on its own, a moment apart, so
    that the client reads them separately (an event cut between reads stays cut)."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = list(pieces)
        self.requests: list[dict] = []

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in self.pieces:
            await response.write(piece)
            await asyncio.sleep(0.005)
        await response.write_eof()
        return response


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedEndpoint, Settings]]:
    endpoint = ScriptedEndpoint([])
    app = web.Application()
    app.router.add_post("/v1/chat/completions", endpoint.chat)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("/v1"))
        yield endpoint, with_model(Settings(_env_file=None), url, model_retries=0)
    finally:
        await server.close()


def split(data: bytes, *cuts: int) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


async def test_crlf_comments_and_events_cut_between_reads_give_the_whole_answer(scripted):
    endpoint, settings = scripted
    body = b"".join([
        b": connected\r\n\r\n",
        sse(FILTER, end=b"\r\n"),  # Azure: prompt filter results, no choices
        sse(chunk("Open the ", usage=None), end=b"\r\n"),  # OpenAI: "usage": null until the end
        b"event: message\r\nid: 7\r\n" + sse(chunk("VPN "), end=b"\r\n"),
        sse(chunk("app."), end=b"\r"),  # old Macs: CR alone
        sse(chunk(finish="stop"), end=b"\r\n"),
        sse({**chunk(), "choices": [], "usage": USAGE}, end=b"\r\n"),
        sse("[DONE]", end=b"\r\n"),
    ])
    cuts = [body.index(b"VPN") + 1, body.index(b"app.") + 9]  # inside two events' JSON
    cuts.append(body.index(b"\r\n", cuts[-1]) + 1)  # between the CR and the LF of a CRLF
    cuts.append(body.index(b'"stop"') + 12)
    endpoint.pieces = split(body, *sorted(cuts))
    completion = Completion()
    deltas = await answer(ModelClient.from_settings(settings), completion)
    assert "".join(deltas) == "Open the VPN app."
    assert completion.finish_reason == "stop"
    assert (completion.input_tokens, completion.output_tokens) == (11, 3)
    assert endpoint.requests[0]["stream"] is True


async def test_an_event_split_over_two_data_lines_is_read_as_one(scripted):
    endpoint, settings = scripted
    endpoint.pieces = [  # a CRLF cut between reads must not read as a blank line
        b'data: {"choices": [{"index": 0,\r',
        b'\ndata: "delta": {"content": "Sign in."}}]}\r\n\r\n',
        sse(chunk(finish="stop")),
        sse("[DONE]"),
    ]
    assert "".join(await answer(ModelClient.from_settings(settings))) == "Sign in."


async def test_a_stream_that_ends_without_done_after_the_finish_is_a_whole_answer(scripted):
    endpoint, settings = scripted
    endpoint.pieces = [sse(chunk("Sign in.")), sse(chunk(finish="stop"))]
    assert "".join(await answer(ModelClient.from_settings(settings))) == "Sign in."


async def test_a_stream_that_ends_without_a_finish_is_an_interruption(scripted):
    endpoint, settings = scripted
    endpoint.pieces = [sse(chunk("Sign in ")), sse(chunk("with your"))]
    shown, error = await read_until_failure(ModelClient.from_settings(settings))
    assert shown == "Sign in with your"
    assert isinstance(error, StreamInterrupted)


async def test_a_named_error_event_is_surfaced(scripted):
    endpoint, settings = scripted
    endpoint.pieces = [
        sse(chunk("Sign in ")),
        b'event: error\ndata: {"message": "context length exceeded", "code": 400}\n\n',
    ]
    shown, error = await read_until_failure(ModelClient.from_settings(settings))
    assert shown == "Sign in "
    assert isinstance(error, StreamInterrupted)
    assert "context length exceeded" in str(error)


async def test_a_chunk_that_is_not_json_is_a_clear_error_not_a_crash(scripted):
    endpoint, settings = scripted
    endpoint.pieces = [sse("<html>Bad gateway</html>")]
    shown, error = await read_until_failure(ModelClient.from_settings(settings))
    assert shown == ""
    assert type(error) is ModelError and "not JSON" in str(error)


async def test_a_chunk_that_is_not_utf8_is_the_same_clear_error(scripted):
    endpoint, settings = scripted
    endpoint.pieces = [b'data: {"choices": [{"index": 0, "delta": {"content": "\xff"}}]}\n\n']
    shown, error = await read_until_failure(ModelClient.from_settings(settings))
    assert shown == ""
    assert type(error) is ModelError and "not JSON" in str(error)


# -- hanging up, and a proxy ---------------------------------------------------------------------


async def test_an_answer_called_off_hangs_up_so_the_endpoint_stops_writing():
    writing = asyncio.Event()
    hung_up = asyncio.Event()

    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        writing.set()
        try:
            await asyncio.sleep(30)  # a model still reading a long prompt
        except asyncio.CancelledError:
            hung_up.set()  # aiohttp cancels the handler when the client goes away
            raise
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    server = TestServer(app, host="127.0.0.1", handler_cancellation=True)
    await server.start_server()
    client = ModelClient.from_settings(
        with_model(Settings(_env_file=None), str(server.make_url("/v1")), model_retries=0)
    )
    try:
        reading = asyncio.create_task(anext(client.stream_chat(QUESTION)))
        await asyncio.wait_for(writing.wait(), 5)
        reading.cancel()  # the person deleted the question; the replica is shutting down
        with pytest.raises(asyncio.CancelledError):
            await reading
        await asyncio.wait_for(hung_up.wait(), 5)
    finally:
        await client.aclose()
        await server.close()


async def test_behind_a_proxy_the_answer_goes_through_it(
    fake: FakeOpenAI, fake_url: str, monkeypatch: pytest.MonkeyPatch
):
    # A model endpoint only the proxy can reach; the fake answers as the proxy would relay.
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", fake_url.removesuffix("/v1"))
    fake.replies = ["Through the proxy."]
    settings = with_model(Settings(_env_file=None), "http://models.internal.invalid/v1")
    deltas = await answer(ModelClient.from_settings(settings))
    assert "".join(deltas) == "Through the proxy."
