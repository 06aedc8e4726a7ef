"""Fixtures shared by the store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.fake_openai import FakeOpenAI, serve_fake


@pytest.fixture
async def fake_openai() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    server = FakeOpenAI(dimensions=64)
    server.add_synonyms(["holiday", "vacation", "pto"])
    async with serve_fake(server) as url:
        yield server, url
