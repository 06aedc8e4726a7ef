"""A cached answer stops reaching someone the moment a document it cites is no longer theirs to
read, even when nothing cleared the cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.runtime import Runtime
from core.settings import Settings
from tests.core.identity.helpers import SALARY_QUESTION, ask_as, knowledge, sees_salaries
from tests.core.llm.conftest import fake, fake_url, with_model  # noqa: F401 (fixtures)
from tests.support.fake_openai import FakeOpenAI


@pytest.fixture
async def rt(settings: Settings, fake_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:  # noqa: F811
    async with await Runtime.start(with_model(settings, fake_url)) as runtime:
        public, managers = knowledge(tmp_path / "kb")
        await runtime.audiences.allow(str(managers), ("maria@example.com",))
        assert not (await runtime.ingestor.ingest([public, managers])).failed
        yield runtime


async def test_a_revoked_reader_is_not_served_the_cached_answer(
    rt: Runtime, fake: FakeOpenAI, tmp_path: Path  # noqa: F811
):
    fake.replies = ["The grade seven band is 91,000 to 104,000 euros [1]."]
    first, _ = await ask_as(rt, SALARY_QUESTION, "maria@example.com")
    assert sees_salaries(first)
    # Maria is taken off the audience; the cache is not cleared.
    await rt.audiences.allow(str(tmp_path / "kb" / "hr-managers"), ("anna@example.com",))
    again, shown = await ask_as(rt, SALARY_QUESTION, "maria@example.com", user="maria-2")
    assert again.usage.model != "cache"
    assert "104,000" not in shown and not sees_salaries(again)


async def test_a_public_answer_is_not_served_once_its_document_is_restricted(
    rt: Runtime, fake: FakeOpenAI, tmp_path: Path  # noqa: F811
):
    fake.replies = ["25 days a year [1]."]
    question = "How many days of annual leave do I get?"
    first, _ = await ask_as(rt, question, "bob@example.com")
    assert any("Annual leave" in p.title for p in first.sources)
    # Leave policy becomes managers-only after the answer was cached for everyone.
    await rt.audiences.allow(str(tmp_path / "kb" / "public"), ("maria@example.com",))
    other, _ = await ask_as(rt, question, "bob@example.com", user="bob-2")
    assert other.usage.model != "cache"
    assert not any("Annual leave" in p.title for p in other.sources)
    # Maria, in the new audience, still gets it.
    maria, _ = await ask_as(rt, question, "maria@example.com")
    assert any("Annual leave" in p.title for p in maria.sources)
