"""The answer cache never carries a restricted document's text to someone outside its
audience; answers from public documents are still shared by everyone."""

from __future__ import annotations

from bots.runtime import Runtime
from tests.core.identity.helpers import (  # noqa: F401 (fixture)
    SALARY_QUESTION,
    ask_as,
    restricted_runtime,
    sees_salaries,
)
from tests.core.llm.conftest import fake, fake_url  # noqa: F401 (fixtures)
from tests.support.fake_openai import FakeOpenAI


async def test_the_cache_does_not_leak_across_scopes(rt: Runtime, fake: FakeOpenAI):  # noqa: F811
    fake.replies = ["The grade seven band is 91,000 to 104,000 euros [1]."]
    maria, _ = await ask_as(rt, SALARY_QUESTION, "maria@example.com")
    assert sees_salaries(maria)
    bob, shown = await ask_as(rt, SALARY_QUESTION, "bob@example.com")
    assert bob.usage.model != "cache"  # not served Maria's answer
    assert "104,000" not in shown and not sees_salaries(bob)
    # Maria's own repeat is hers from the cache.
    again, _ = await ask_as(rt, SALARY_QUESTION, "maria@example.com", user="maria-2")
    assert again.usage.model == "cache" and "104,000" in again.text


async def test_answers_from_public_documents_are_shared_by_everyone(
    rt: Runtime, fake: FakeOpenAI  # noqa: F811
):
    fake.replies = ["25 days a year [1]."]
    question = "How many days of annual leave do I get?"
    await ask_as(rt, question, "maria@example.com")
    other, _ = await ask_as(rt, question, None)
    assert fake.count("chat") == 1 and other.usage.model == "cache"
