"""After a document is revoked from someone, a follow-up in the same thread is not written from
the earlier answer that quoted it."""

from __future__ import annotations

import json
from pathlib import Path

from bots.runtime import Runtime
from core.answers import Answer
from core.console import CollectingReplyStream
from core.events import ChatEvent, ConversationKind, Person, ThreadRef
from tests.core.identity.helpers import (  # noqa: F401 (fixture)
    SALARY_QUESTION,
    restricted_runtime,
    sees_salaries,
)
from tests.core.llm.conftest import fake, fake_url  # noqa: F401 (fixtures)
from tests.support.fake_openai import FakeOpenAI

FOLLOW_UP = "And how many days of annual leave come with that salary band?"


async def in_thread(rt: Runtime, text: str) -> tuple[Answer, str]:
    """Maria asks in one DM thread."""
    event = ChatEvent(
        person=Person(platform="cli", workspace_id="local", user_id="maria", email="maria@example.com"),
        thread=ThreadRef("cli", "local", "cli:maria", "t-maria", ConversationKind.DM),
        text=text,
    )
    stream = CollectingReplyStream()
    answer = await rt.assistant.handle(event, stream)
    return answer, stream.text


def prompts_since(fake: FakeOpenAI, seen: int) -> str:  # noqa: F811
    """Everything the model was sent after the first ``seen`` chat calls."""
    return json.dumps([b["messages"] for b in fake.bodies("chat")[seen:]])


async def test_a_follow_up_does_not_quote_a_revoked_answer(
    rt: Runtime, fake: FakeOpenAI, tmp_path: Path  # noqa: F811
):
    fake.replies = ["The grade seven band is 91,000 to 104,000 euros [1].", "I can't say [1]."]
    first, _ = await in_thread(rt, SALARY_QUESTION)
    assert sees_salaries(first)
    # Still hers: the follow-up is written with the earlier answer in view.
    seen = fake.count("chat")
    await in_thread(rt, FOLLOW_UP)
    assert "104,000" in prompts_since(fake, seen)

    await rt.audiences.allow(str(tmp_path / "kb" / "hr-managers"), ("anna@example.com",))
    fake.replies = ["I don't have that [1]."]
    seen = fake.count("chat")
    after, shown = await in_thread(rt, "How many days of annual leave do I get? And that band again?")
    assert fake.count("chat") > seen, (shown, after.sources)  # answered from the leave policy, with the thread in view
    assert "104,000" not in prompts_since(fake, seen)
    assert "104,000" not in shown and not sees_salaries(after)
