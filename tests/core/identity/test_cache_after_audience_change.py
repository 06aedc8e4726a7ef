"""A cached answer stops reaching someone the moment a document it cites is no longer theirs to
read, even when nothing cleared the cache."""

from __future__ import annotations

from pathlib import Path

from bots.runtime import Runtime
from tests.core.identity.helpers import (  # noqa: F401 (fixture)
    SALARY_QUESTION,
    ask_as,
    restricted_runtime,
    sees_salaries,
)
from tests.core.llm.conftest import fake, fake_url  # noqa: F401 (fixtures)
from tests.support.fake_openai import FakeOpenAI


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
