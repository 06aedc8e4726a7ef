"""One question through the whole pipeline, against real Postgres and the sample documents."""

from __future__ import annotations

import pytest

from bots.runtime import Runtime
from core.console import CollectingReplyStream
from core.errors import InvalidQuestion
from core.events import ChatEvent, ConversationKind, Person, ThreadRef


def event(text: str, *, user: str = "U1", thread: str = "T1") -> ChatEvent:
    return ChatEvent(
        person=Person(platform="test", workspace_id="W1", user_id=user),
        thread=ThreadRef(
            platform="test", workspace_id="W1", channel_id="D1", thread_id=thread,
            kind=ConversationKind.DM,
        ),
        text=text,
    )


async def count(runtime: Runtime, table: str) -> int:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) FROM {table}")  # fixed table names only
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_question_is_answered_from_the_right_document_with_citation(loaded_runtime: Runtime):
    stream = CollectingReplyStream()
    answer = await loaded_runtime.assistant.handle(
        event("How do I connect to the VPN from home?"), stream
    )

    assert answer.status == "complete"
    assert stream.answer is answer
    # What was streamed is what the user ends up with.
    assert stream.text == answer.text
    assert len(stream.deltas) > 1
    cited_paths = {c.path for c in answer.citations}
    assert any(p and p.endswith("vpn-remote-access.html") for p in cited_paths), cited_paths
    # Every [n] in the text points at a listed citation.
    for citation in answer.citations:
        assert f"[{citation.n}]" in answer.text
    assert answer.route is not None and answer.route.primary == "it"
    assert stream.statuses == ["Searching IT documents…", "Reading 5 passages…"]


async def test_answer_and_question_are_persisted_with_citations(loaded_runtime: Runtime):
    answer = await loaded_runtime.assistant.handle(
        event("How much annual leave do associates in Lisbon get?"), CollectingReplyStream()
    )
    async with loaded_runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT role, text, citations, route FROM messages WHERE conversation_id = %s ORDER BY id",
            (answer.conversation_id,),
        )
        rows = await cur.fetchall()
    assert [r[0] for r in rows] == ["user", "assistant"]
    assert rows[0][1] == "How much annual leave do associates in Lisbon get?"
    assert rows[1][1] == answer.text
    assert [c["n"] for c in rows[1][2]] == [c.n for c in answer.citations]
    assert any(c["path"].endswith("annual-leave.md") for c in rows[1][2])
    assert rows[1][3]["domains"][0] == "hr"


async def test_follow_up_in_the_same_thread_is_the_same_conversation(loaded_runtime: Runtime):
    first = await loaded_runtime.assistant.handle(
        event("How do I reset my password?", thread="T-follow"), CollectingReplyStream()
    )
    second = await loaded_runtime.assistant.handle(
        event("and if I am locked out?", thread="T-follow"), CollectingReplyStream()
    )
    other = await loaded_runtime.assistant.handle(
        event("How do I reset my password?", thread="T-other"), CollectingReplyStream()
    )

    assert second.conversation_id == first.conversation_id
    assert other.conversation_id != first.conversation_id
    # The short follow-up was searched in the context of the thread.
    assert any(c.path and c.path.endswith("password-reset.md") for c in second.citations)
    assert await count(loaded_runtime, "messages") == 6


async def test_question_with_nothing_relevant_says_so(loaded_runtime: Runtime):
    stream = CollectingReplyStream()
    answer = await loaded_runtime.assistant.handle(
        event("zxqv plorth quibblewick"), stream
    )
    assert answer.citations == []
    assert "couldn't find" in answer.text


@pytest.mark.parametrize(
    "text, expected",
    [("", "didn't catch a question"), ("   \n\t ", "didn't catch a question"),
     ("x" * 100_000, "100,000 characters")],
    ids=["empty", "blank", "100KB"],
)
async def test_bad_question_is_refused_politely_and_changes_nothing(
    loaded_runtime: Runtime, text: str, expected: str
):
    stream = CollectingReplyStream()
    with pytest.raises(InvalidQuestion):
        await loaded_runtime.assistant.handle(event(text), stream)
    assert stream.failure is not None and expected in stream.failure
    assert stream.deltas == []
    for table in ("users", "conversations", "messages"):
        assert await count(loaded_runtime, table) == 0, table


async def test_a_question_that_takes_its_subject_from_the_thread_is_searched_there(
    loaded_runtime: Runtime,
):
    # It reads on its own, so it is planned while the thread is read; the thread's earlier
    # question then gives it a subject the question alone does not name.
    question = "Is there someone I can talk to about this on the weekend?"
    await loaded_runtime.assistant.handle(
        event("How do I connect to the VPN from home?", thread="T-vpn"), CollectingReplyStream()
    )
    in_thread, alone = CollectingReplyStream(), CollectingReplyStream()
    answer = await loaded_runtime.assistant.handle(event(question, thread="T-vpn"), in_thread)
    fresh = await loaded_runtime.assistant.handle(event(question, thread="T-new"), alone)

    assert answer.route is not None and answer.route.primary == "it"
    assert in_thread.statuses[0] == "Searching IT documents…"
    assert in_thread.text == answer.text
    # In a new thread the same words name no subject: everything is searched.
    assert fresh.route is not None and fresh.route.primary != "it"
    assert alone.statuses[0] == "Searching company documents…"
    assert await count(loaded_runtime, "messages") == 6
