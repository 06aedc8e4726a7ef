"""Faults on purpose: replicas that die, a model that misbehaves, Postgres restarted, Redis
killed, Slack refusing. Each test checks what a user would notice: every accepted question
answered once, in one message, and told plainly when something is slow or failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr

from bots.runtime import Runtime
from bots.settings import AppSettings as Settings
from tests.bots.slack.conftest import SlackHarness, running_slack
from tests.support.fake_openai import FakeOpenAI, cited_prose, serve_fake
from tests.support.fake_slack import FakeSlack

MODEL_KEY = "sk-test-reliability"
# Short leases and quick sweeps, so a dead replica's events are taken over within seconds.
QUICK_INBOX: dict[str, Any] = {
    "inbox_lease_s": 4.0,
    "inbox_sweep_s": 0.5,
    "inbox_retry_delay_s": 0.3,
    "slack_stream_interval_s": 0.2,
}
SORRY = "Sorry — something went wrong while I was answering"
STILL_WORKING = "This is taking longer than usual"


def long_answer(sentences: int = 40) -> str:
    """A model reply that takes a while to stream (one word per token), cited and free of
    repetition so that the grounding check shows it whole."""
    return cited_prose(sentences, seed=sentences)


def model_settings(url: str, **more: Any) -> dict[str, Any]:
    return {
        "openai_base_url": url,
        "openai_api_key": SecretStr(MODEL_KEY),
        "chat_model": "gpt-4o-mini",
        "answer_cache_ttl": 0,
        "router_timeout": 1.0,
        **more,
    }


@asynccontextmanager
async def model_server(fake: FakeOpenAI) -> AsyncIterator[str]:
    fake.api_key = MODEL_KEY
    async with serve_fake(fake) as url:
        yield url


@asynccontextmanager
async def replica(
    settings: Settings,
    fake: FakeSlack,
    *,
    model_url: str | None = None,
    load: bool = True,
    **overrides: Any,
) -> AsyncIterator[SlackHarness]:
    """One in-process replica (runtime + server) with quick inbox settings."""
    values = {**QUICK_INBOX, **(model_settings(model_url) if model_url else {}), **overrides}
    async with running_slack(settings, fake, load=load, **values) as harness:
        yield harness


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 60.0,
    every: float = 0.1,
    what: str = "condition",
) -> None:
    """Wait until ``check()`` is true (a deadline, not a measurement)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


async def inbox_rows(runtime: Runtime) -> dict[str, tuple[str, int, str | None]]:
    """event key -> (state, attempts, last_error)."""
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT event_key, state, attempts, last_error FROM inbox")
        return {
            key: (state, attempts, error) for key, state, attempts, error in await cur.fetchall()
        }


async def all_finished(runtime: Runtime, count: int) -> bool:
    rows = await inbox_rows(runtime)
    return len(rows) == count and all(state in {"done", "failed"} for state, _, _ in rows.values())


async def stored_turns(runtime: Runtime, thread_ts: str) -> tuple[list[str], list[str]]:
    """The questions and answers stored for one Slack thread."""
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT m.role, m.text FROM messages m
               JOIN conversations c ON c.id = m.conversation_id
               WHERE c.thread_id = %s ORDER BY m.id""",
            (thread_ts,),
        )
        rows = await cur.fetchall()
    return [t for r, t in rows if r == "user"], [t for r, t in rows if r == "assistant"]


def counter(runtime: Runtime, name: str, **labels: str) -> float:
    """A metric's value as ``/metrics`` would show it (0 when never counted)."""
    value = runtime.metrics.registry.get_sample_value(name, labels)
    return value or 0.0
