"""A fake OpenAI-compatible server, and runtimes configured to use it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bots.runtime import Runtime
from core.settings import Settings
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.support.fake_openai import FakeOpenAI, serve_fake

API_KEY = "sk-test-switchboard"
CHAT_MODEL = "gpt-4o-mini"


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI(api_key=API_KEY)


@pytest.fixture
async def fake_url(fake: FakeOpenAI) -> AsyncIterator[str]:
    async with serve_fake(fake) as url:
        yield url


def with_model(settings: Settings, base_url: str, **overrides: object) -> Settings:
    """``settings`` pointed at the fake, with quick timeouts and backoff for tests."""
    values: dict[str, object] = {
        "openai_base_url": base_url,
        "openai_api_key": SecretStr(API_KEY),
        "chat_model": CHAT_MODEL,
        "model_first_token_timeout": 5.0,
        "model_idle_timeout": 2.0,
        "model_total_timeout": 30.0,
        "model_backoff_base": 0.01,
        "model_backoff_max": 0.5,
        "router_timeout": 2.0,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


@pytest.fixture
def model_settings(settings: Settings, fake_url: str) -> Settings:
    return with_model(settings, fake_url)


@pytest.fixture
async def model_runtime(model_settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime answering with the fake model, the sample knowledge base loaded."""
    async with await Runtime.start(model_settings) as runtime:
        report = await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        assert not report.failed, report.failed
        yield runtime
