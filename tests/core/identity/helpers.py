"""A knowledge base with one restricted folder, and asking as someone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.runtime import Runtime
from core.answers import Answer
from core.console import CollectingReplyStream
from core.events import ChatEvent, ConversationKind, Person, ThreadRef
from core.settings import Settings
from tests.core.llm.conftest import with_model

SALARY = (
    "# Salary bands 2027\n\nManager salary band for grade seven: 91,000 to 104,000 euros. "
    "The grade seven salary band applies from January.\n"
)
LEAVE = "# Annual leave\n\nEvery associate gets 25 days of annual leave a year.\n"
SALARY_QUESTION = "What is the salary band for grade seven?"


def knowledge(root: Path) -> tuple[Path, Path]:
    """``root/public`` (anyone) and ``root/hr-managers`` (the salary bands)."""
    public, managers = root / "public", root / "hr-managers"
    public.mkdir(parents=True)
    managers.mkdir()
    (public / "annual-leave.md").write_text(LEAVE)
    (managers / "salary-bands.md").write_text(SALARY)
    return public, managers


async def ask_as(
    runtime: Runtime, text: str, email: str | None, *, user: str | None = None
) -> tuple[Answer, str]:
    who = user or email or "anonymous"
    event = ChatEvent(
        person=Person(platform="cli", workspace_id="local", user_id=who, email=email),
        thread=ThreadRef("cli", "local", f"cli:{who}", f"t-{who}-{len(text)}", ConversationKind.DM),
        text=text,
    )
    stream = CollectingReplyStream()
    answer = await runtime.assistant.handle(event, stream)
    return answer, stream.text


def sees_salaries(answer: Answer) -> bool:
    return any("Salary bands" in p.title for p in answer.sources) or "104,000" in answer.text


@pytest.fixture(name="rt")
async def restricted_runtime(
    settings: Settings, fake_url: str, tmp_path: Path
) -> AsyncIterator[Runtime]:
    """A runtime on the fake model with the knowledge above ingested, salaries for Maria only.
    (Import it beside ``fake`` and ``fake_url`` from tests.core.llm.conftest.)"""
    async with await Runtime.start(with_model(settings, fake_url)) as runtime:
        public, managers = knowledge(tmp_path / "kb")
        await runtime.audiences.allow(str(managers), ("maria@example.com",))
        assert not (await runtime.ingestor.ingest([public, managers])).failed
        yield runtime
