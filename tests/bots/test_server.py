"""The server as an operator sees it: health, readiness, metrics, first start on a fresh index."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bots.runtime import Runtime
from bots.server import build_app
from core.console import CollectingReplyStream
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.core.test_assistant import event


async def test_health_readiness_and_metrics(loaded_runtime: Runtime):
    await loaded_runtime.assistant.handle(event("How do I report a phishing email?"), CollectingReplyStream())
    async with TestClient(TestServer(build_app(loaded_runtime))) as client:
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["status"] == "ok"
        assert health.headers["X-Request-Id"]

        ready = await client.get("/readyz")
        assert ready.status == 200
        assert (await ready.json())["checks"]["database"] == "ok"

        metrics = await (await client.get("/metrics")).text()
        assert 'switchboard_answers_total{outcome="complete"} 1.0' in metrics
        assert "switchboard_time_to_first_token_seconds_count 1.0" in metrics
        # An operator sees how many answers the replica lets run at once, and none waiting.
        ceiling = loaded_runtime.settings.max_answers
        assert f'switchboard_answers_at_once{{state="limit"}} {ceiling:.1f}' in metrics
        assert 'switchboard_answers_at_once{state="waiting"} 0.0' in metrics
        assert "switchboard_event_loop_lag_seconds" in metrics

        missing = await client.get("/nope")
        assert missing.status == 404


async def test_readyz_reports_an_unreachable_database(runtime: Runtime):
    app = build_app(runtime)
    async with TestClient(TestServer(app)) as client:
        await runtime.db.pool.close()
        ready = await client.get("/readyz")
        assert ready.status == 503
        body = await ready.json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"].startswith("unavailable")


async def test_serve_on_a_fresh_index_ingests_the_sample_and_answers_health(database_url: str, tmp_path: Path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "REDIS_", "SLACK_", "MICROSOFT_"))},
        "DATABASE_URL": database_url,
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_SAMPLE_KNOWLEDGE": str(SAMPLE_KNOWLEDGE),
    }
    # Nothing else runs on this loop while the banner is read: blocking reads are fine here.
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "bots.cli", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        banner = []
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner.append(line)
            if line.strip().startswith("Knowledge"):
                break
        text = "".join(banner)
        assert "sample knowledge base ingested" in text, text
        # Each slow step of the start said what it was doing, in a line of its own, first.
        assert banner[0].startswith("Connecting to DATABASE_URL and applying migrations…")
        assert banner[1].startswith("Reading the sample knowledge base in ")
        assert "Model" in text and "not configured" in text
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", text).group(1))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
