"""A platform is one folder plus one registry line: a toy platform (tests/support/toy_platform.py)
registered in one line answers through the core's lifecycle — once per event, again after a
failed attempt, with the failure texts, and done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bots.platforms import PLATFORMS
from bots.runtime import Runtime
from bots.server import build_app, describe_configuration
from bots.settings import AppSettings, compose
from core.lifecycle import SORRY, STILL_WORKING
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.support.toy_platform import ROUTE, ToyChat, ToyPlatform

QUESTION = "How many days of annual leave do I get?"
QUICK = {"inbox_lease_s": 4.0, "inbox_sweep_s": 0.5, "inbox_retry_delay_s": 0.2}


@asynccontextmanager
async def toy_server(
    settings: AppSettings, chat: ToyChat, **overrides: Any
) -> AsyncIterator[tuple[TestClient, Runtime]]:
    config = settings.model_copy(update={**QUICK, **overrides})
    async with await Runtime.start(config) as runtime:
        assert not (await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])).failed
        app = build_app(runtime, (*PLATFORMS, ToyPlatform(chat)))  # the one line
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield client, runtime


async def inbox_state(runtime: Runtime, key: str) -> tuple[str, int]:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT state, attempts FROM inbox WHERE event_key = %s", (key,))
        row = await cur.fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


async def settled(runtime: Runtime, key: str, timeout: float = 30.0) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        state, attempts = await inbox_state(runtime, key)
        if state in {"done", "failed"}:
            return state, attempts
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} still {state} after {attempts} attempts")
        await asyncio.sleep(0.1)


def message(id_: str, chat: str = "C1") -> dict[str, str]:
    return {"id": id_, "team": "T1", "chat": chat, "user": "U1", "text": QUESTION}


async def test_a_toy_platform_answers_each_event_once(settings: AppSettings):
    chat = ToyChat()
    async with toy_server(settings, chat) as (client, runtime):
        first = await client.post(ROUTE, json=message("m1"))
        again = await client.post(ROUTE, json=message("m1"))  # the platform delivers it twice
        assert first.status == again.status == 200
        assert await settled(runtime, "toy:m1") == ("done", 1)
        shown = chat.chats["C1"]
        assert len(shown) == 1 and "annual leave" in shown[0].text.lower()
        assert SORRY not in shown[0].text


async def test_a_failed_attempt_says_so_and_the_next_one_answers_in_the_same_message(
    settings: AppSettings,
):
    chat = ToyChat(refuse=1)
    async with toy_server(settings, chat) as (client, runtime):
        assert (await client.post(ROUTE, json=message("m2"))).status == 200
        assert await settled(runtime, "toy:m2") == ("done", 2)
        [shown] = chat.chats["C1"]
        assert shown.texts[0].startswith(STILL_WORKING)
        assert "annual leave" in shown.text.lower() and STILL_WORKING not in shown.text


async def test_when_every_attempt_fails_the_user_reads_the_failure_text(settings: AppSettings):
    chat = ToyChat(refuse=99)
    async with toy_server(settings, chat, inbox_max_attempts=2) as (client, runtime):
        assert (await client.post(ROUTE, json=message("m3"))).status == 200
        assert await settled(runtime, "toy:m3") == ("failed", 2)
        [shown] = chat.chats["C1"]
        assert shown.texts[0].startswith(STILL_WORKING) and shown.text == SORRY


def test_the_banner_and_the_settings_take_the_platform_in(monkeypatch: pytest.MonkeyPatch):
    toy = ToyPlatform(ToyChat())
    banner = describe_configuration(
        AppSettings(_env_file=None), "http://h", "db", "k", (*PLATFORMS, toy)
    )
    assert "  Toy             http://h/toy/messages" in banner.splitlines()
    monkeypatch.setenv("TOY_GREETING", "hi")
    assert compose((*PLATFORMS, toy))(_env_file=None).toy_greeting == "hi"  # type: ignore[attr-defined]
