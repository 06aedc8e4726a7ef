"""Fixtures for the jobs: a local OpenAI-compatible server, and settings that use it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from core.settings import Settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.services import free_port


@asynccontextmanager
async def serving(server: FakeOpenAI) -> AsyncIterator[str]:
    """Serve ``server`` on a free local port; yield its /v1 base URL."""
    runner = web.AppRunner(server.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


@pytest.fixture
async def fake_openai() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    server = FakeOpenAI(dimensions=64)
    async with serving(server) as url:
        yield server, url


def with_model(settings: Settings, url: str, *, chat: bool = True, embeddings: bool = True) -> Settings:
    update: dict[str, object] = {"openai_base_url": url}
    if chat:
        update["chat_model"] = "fake-chat"
    if embeddings:
        update |= {"embedding_model": "fake-embed", "embedding_dimensions": 64}
    return settings.model_copy(update=update)
