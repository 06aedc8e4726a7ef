"""/readyz as a load balancer and an operator see it, and the request id in the logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import SignatureVerifier

from bots.runtime import Runtime
from bots.server import build_app
from bots.settings import AppSettings as Settings
from core.observability import configure_logging
from tests.conftest import REPO
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_slack import FakeSlack
from tests.support.services import free_port, in_ci, redis_server

API_KEY = "sk-test-never-print-me"


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[TestServer]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@asynccontextmanager
async def readyz(settings: Settings) -> AsyncIterator[TestClient]:
    async with (
        await Runtime.start(settings) as runtime,
        TestClient(TestServer(build_app(runtime))) as client,
    ):
        yield client


async def probe(client: TestClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status, await response.json()


def configure(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with ``changes``, validated as they would be from the environment."""
    return Settings(_env_file=None, **{**settings.model_dump(), **changes})


class ModelEndpoint:
    """A model endpoint that answers every ``/v1/models`` with ``status`` and counts the calls."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.calls = 0

    def app(self) -> web.Application:
        async def models(request: web.Request) -> web.Response:
            self.calls += 1
            return web.json_response({"error": {"message": "nope"}}, status=self.status)

        app = web.Application()
        app.router.add_get("/v1/models", models)
        return app


def private_redis() -> ExitStack:
    """A Redis of this test's own, so it can be stopped mid-test."""
    stack = ExitStack()
    url = stack.enter_context(redis_server())
    if url is None:
        stack.close()
        if in_ci():
            pytest.fail("redis-server is not installed; CI must install it (see .ci/run)")
        pytest.skip("redis-server is not installed here (CI installs it and runs these)")
    stack.url = url  # type: ignore[attr-defined]
    return stack


async def test_ready_when_database_redis_and_model_all_answer(settings: Settings, redis_url: str):
    fake = FakeOpenAI()
    async with served(fake.app()) as model:
        configured = configure(
            settings,
            redis_url=redis_url,
            openai_base_url=str(model.make_url("/v1")),
            openai_api_key=API_KEY,
            chat_model="fake-chat",
        )
        async with readyz(configured) as client:
            status, body = await probe(client)
    assert status == 200
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "model": "ok"},
        "required": ["database"],
    }


async def test_only_configured_dependencies_are_checked(settings: Settings):
    async with readyz(settings) as client:
        status, body = await probe(client)
    assert status == 200
    assert body["checks"] == {"database": "ok"}


async def test_redis_down_keeps_the_replica_in_rotation_and_says_why(settings: Settings):
    redis = private_redis()
    with redis:
        async with readyz(configure(settings, redis_url=redis.url)) as client:
            assert (await probe(client))[1]["checks"]["redis"] == "ok"
            redis.close()  # Redis goes away under a running replica
            status, body = await probe(client)
    assert status == 200
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")


async def test_redis_down_takes_the_replica_out_when_redis_is_required(settings: Settings):
    redis = private_redis()
    with redis:
        strict = configure(settings, redis_url=redis.url, readiness_requires=("database", "redis"))
        async with readyz(strict) as client:
            assert (await probe(client))[0] == 200
            redis.close()
            status, body = await probe(client)
    assert status == 503
    assert body["status"] == "not ready"
    assert body["checks"]["redis"].startswith("unavailable")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (401, "rejected: HTTP 401 from the model endpoint (check OPENAI_API_KEY)"),
        (503, "unavailable: HTTP 503 from the model endpoint"),
    ],
)
async def test_a_failing_model_endpoint_is_reported_without_the_key(
    settings: Settings, answer: int, reason: str
):
    async with served(ModelEndpoint(answer).app()) as model:
        configured = configure(
            settings,
            openai_base_url=str(model.make_url("/v1")),
            openai_api_key=API_KEY,
            chat_model="some-model",
        )
        async with readyz(configured) as client:
            response = await client.get("/readyz")
            text = await response.text()
    body = json.loads(text)
    assert response.status == 200
    assert body["status"] == "degraded"
    assert body["checks"]["model"] == reason
    assert API_KEY not in text


async def test_an_unreachable_required_model_makes_the_replica_not_ready(settings: Settings):
    nobody = f"http://127.0.0.1:{free_port()}/v1"  # a port nothing listens on
    configured = configure(
        settings,
        openai_base_url=nobody,
        embedding_model="some-embedder",
        readiness_requires=("database", "model"),
    )
    async with readyz(configured) as client:
        status, body = await probe(client)
    assert status == 503
    assert body["status"] == "not ready"
    assert body["checks"]["model"].startswith("unavailable")


async def test_a_burst_of_probes_asks_the_model_endpoint_once(settings: Settings):
    endpoint = ModelEndpoint(200)
    async with served(endpoint.app()) as model:
        configured = configure(settings, openai_base_url=str(model.make_url("/v1")), chat_model="m")
        async with readyz(configured) as client:
            results = await asyncio.gather(*(probe(client) for _ in range(20)))
            results.append(await probe(client))  # a later probe within the interval
    assert all(status == 200 and body["status"] == "ready" for status, body in results)
    assert endpoint.calls == 1


async def test_the_request_id_follows_work_started_by_a_request(runtime: Runtime):
    """Platform handlers ack first and answer in a task they start: its logs keep the id."""
    buffer = io.StringIO()
    configure_logging(level="INFO", json=True, stream=buffer)
    log = structlog.get_logger("test.request_id")
    finished = asyncio.Event()

    async def answer_later() -> None:
        await asyncio.sleep(0)  # after the response has gone
        log.info("answer_streamed")
        finished.set()

    async def events(request: web.Request) -> web.Response:
        log.info("event_accepted")
        asyncio.get_running_loop().create_task(answer_later())
        return web.json_response({"ok": True})

    app = build_app(runtime)
    app.router.add_post("/test/events", events)
    try:
        async with TestClient(TestServer(app)) as client:
            given = await client.post("/test/events", headers={"X-Request-Id": "req-42.a"})
            await asyncio.wait_for(finished.wait(), timeout=10)
            forged = await client.post("/test/events", headers={"X-Request-Id": "x" * 65})
            await client.post("/test/events")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()

    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    first = [line["event"] for line in lines if line.get("request_id") == "req-42.a"]
    assert given.headers["X-Request-Id"] == "req-42.a"
    # Logged in the handler, and after the response in the task it started.
    assert {"event_accepted", "answer_streamed"} <= set(first)
    # A caller's id that is not a plain short token is replaced, never logged.
    assert forged.headers["X-Request-Id"] != "x" * 65
    assert "x" * 65 not in buffer.getvalue()
    accepted = [line["request_id"] for line in lines if line["event"] == "event_accepted"]
    assert len(accepted) == 3 and len(set(accepted)) == 3


async def test_the_request_id_follows_a_slack_event_to_its_answer(
    database_url: str, tmp_path: Path
):
    """The real server process: a signed DM arrives with an id; the log line that closes its
    answer, written by the task that ran after the ack, carries the same id."""
    secret, token = "e2e-signing-secret", "xoxb-e2e-token"
    fake = FakeSlack()
    fake.add_workspace("T0E2E", token, bot_user_id="UBOT")
    log_file = tmp_path / "serve.log"
    async with served(fake.app()) as slack_api:
        fake.set_base_url(str(slack_api.make_url("")))
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("SWITCHBOARD_", "REDIS_", "SLACK_", "MICROSOFT_", "OPENAI_"))
            },
            "DATABASE_URL": database_url,
            "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
            "SWITCHBOARD_SAMPLE_KNOWLEDGE": "",  # an empty index answers too, and starts fast
            "SWITCHBOARD_JOBS_ENABLED": "false",
            "SLACK_BOT_TOKEN": token,
            "SLACK_SIGNING_SECRET": secret,
            "SLACK_API_URL": str(slack_api.make_url("/api/")),
        }
        with log_file.open("w") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "serve", "--port", "0",
                env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
            try:
                banner = ""
                while "Knowledge" not in banner:
                    line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)  # type: ignore[union-attr]
                    assert line, f"the server stopped: {log_file.read_text()[-2000:]}"
                    banner += line.decode()
                port = re.search(r"listening on http://127\.0\.0\.1:(\d+)", banner).group(1)  # type: ignore[union-attr]
                body = json.dumps(
                    {
                        "type": "event_callback",
                        "team_id": "T0E2E",
                        "api_app_id": "A0E2E",
                        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
                        "event_time": int(time.time()),
                        "authorizations": [{"team_id": "T0E2E", "user_id": "UBOT", "is_bot": True}],
                        "event": {
                            "type": "message", "channel_type": "im", "channel": "D0E2E",
                            "user": "U0E2E", "text": "How do I connect to the VPN?",
                            "ts": f"{int(time.time())}.000100",
                        },
                    }
                )  # fmt: skip
                stamp = str(int(time.time()))
                headers = {
                    "Content-Type": "application/json",
                    "X-Request-Id": "e2e-req-7",
                    "X-Slack-Request-Timestamp": stamp,
                    "X-Slack-Signature": SignatureVerifier(secret).generate_signature(
                        timestamp=stamp, body=body
                    ),
                }
                async with ClientSession() as http:
                    url = f"http://127.0.0.1:{port}/slack/events"
                    async with http.post(url, data=body, headers=headers) as response:
                        assert response.status == 200
                deadline = time.monotonic() + 60
                while '"answered"' not in log_file.read_text() and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
            finally:
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(proc.wait(), timeout=60) == 0

    lines = [json.loads(x) for x in log_file.read_text().splitlines() if x.startswith("{")]
    answered = [line for line in lines if line["event"] == "answered"]
    assert len(answered) == 1, log_file.read_text()[-3000:]
    assert answered[0]["request_id"] == "e2e-req-7"
    # The index is empty: the question is declined ("I couldn't find that"), an answer too.
    assert answered[0]["status"] == "not_found"
    assert fake.thread_text("D0E2E", answered_thread(fake))  # the user saw the answer


def answered_thread(fake: FakeSlack) -> str:
    """The thread the fake Slack received the answer in."""
    (start,) = [c for c in fake.calls if c.method in ("chat.startStream", "chat.postMessage")][:1]
    return str(start.args.get("thread_ts"))
