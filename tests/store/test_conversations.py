"""A question's bookkeeping in one statement: the same rows as the four separate steps."""

from __future__ import annotations

import asyncio

import psycopg

from bots.runtime import Runtime
from core.answers import Answer, Citation, Passage, RouteDecision, Usage
from core.conversations import Asked
from core.events import ConversationKind, Person, ThreadRef
from store.conversations import PgConversationStore
from tests.support.conversations import rows

THREAD = ThreadRef("slack", "T1", "D1", "", ConversationKind.DM)


async def test_a_question_is_stored_with_the_turns_before_it_and_not_itself(runtime: Runtime):
    store = runtime.conversations
    maria = Person("slack", "T1", "U1", display_name="Maria")
    first = await store.ask(maria, THREAD, title="VPN", text="How do I connect to the VPN?",
                            event_key="Ev1", turns=10)
    assert first.history == []
    await store.add_answer(
        first.conversation_id, Answer(text="Open the VPN app [1]."), user_id=first.user.id
    )

    second = await store.ask(maria, THREAD, title="ignored", text="And from abroad?",
                             event_key="Ev2", turns=10)

    assert second.conversation_id == first.conversation_id
    assert second.user == first.user
    assert [(t.role, t.text) for t in second.history] == [
        ("user", "How do I connect to the VPN?"), ("assistant", "Open the VPN app [1]."),
    ]
    # When each turn was written: the follow-up rule's quiet gap reads it.
    assert all(t.at is not None for t in second.history)
    assert second.history[0].at <= second.history[1].at
    stored = await rows(
        runtime.db.pool,
        "SELECT id, user_id, role, text, event_key FROM messages ORDER BY id",
    )
    assert stored[-1] == (second.question_id, first.user.id, "user", "And from abroad?", "Ev2")
    assert await rows(runtime.db.pool, "SELECT title FROM conversations") == [("VPN",)]
    last_two = await store.ask(maria, THREAD, title="", text="Thanks", event_key=None, turns=2)
    assert [t.text for t in last_two.history] == ["Open the VPN app [1].", "And from abroad?"]


async def test_an_account_with_a_known_email_asks_as_that_person(runtime: Runtime):
    store = runtime.conversations
    on_slack = await store.upsert_user(Person("slack", "T1", "U1", email="maria@example.com"))
    await store.ask(Person("slack", "T1", "U1", email="maria@example.com"), THREAD, title="",
                    text="Before", event_key="Ev0", turns=10)
    on_teams = Person("teams", "tenant", "29:maria", email="maria@example.com",
                      account="maria@example.com")
    teams_dm = ThreadRef("teams", "tenant", "a:chat", "", ConversationKind.DM)

    joined = await store.ask(on_teams, teams_dm, title="", text="Leave?", event_key="Ev1",
                             turns=10)
    again = await store.ask(on_teams, teams_dm, title="", text="Sick leave?", event_key="Ev2",
                            turns=10)

    assert joined.user.id == again.user.id == on_slack.id
    assert await rows(
        runtime.db.pool, "SELECT same_as FROM users WHERE platform = 'teams'"
    ) == [(on_slack.id,)]
    assert await rows(
        runtime.db.pool, "SELECT DISTINCT user_id FROM messages"
    ) == [(on_slack.id,)]


async def asked_in_dms(store: PgConversationStore, n: int) -> list[Asked]:
    """A question from each of ``n`` people, each in their own DM."""
    return [
        await store.ask(
            Person("slack", "T1", f"U{i}"), ThreadRef("slack", "T1", f"D{i}", "", THREAD.kind),
            title="", text=f"Question {i}?", event_key=f"Ev{i}", turns=10,
        )
        for i in range(n)
    ]


async def test_answers_stored_together_each_get_their_own_row_and_id(runtime: Runtime):
    # A burst's answers finish at about the same moment and share one statement; each
    # answer's id is the one its row got, whatever order the rows were written in.
    store = runtime.conversations
    asked = await asked_in_dms(store, 8)
    answers = [
        Answer(
            text=f"Answer {n} [1].",
            citations=[Citation(n=1, title=f"Doc {n}", snippet="s", document_id=n)]
            if n % 2 else [],
            sources=[Passage(n, n, f"Doc {n}", "t", "hr", 0.5)]
            if n % 2 else [],
            route=RouteDecision(("hr",), 0.9, "lexical") if n % 3 else None,
            usage=Usage(model="m" if n else None, input_tokens=n, output_tokens=2 * n,
                        cost_usd=0.001 * n, ttft_ms=None if n == 5 else 10.0 * n),
            status="complete" if n != 6 else "incomplete",
        )
        for n in range(8)
    ]
    before = runtime.db.pool.get_stats()["requests_num"]

    ids = await asyncio.gather(
        *(
            store.add_answer(a.conversation_id, answer, user_id=a.user.id, event_key=f"Ev{n}")
            for n, (a, answer) in enumerate(zip(asked, answers, strict=True))
        )
    )

    assert runtime.db.pool.get_stats()["requests_num"] - before == 1
    assert len(set(ids)) == 8
    stored = {
        row[0]: row[1:]
        for row in await rows(
            runtime.db.pool,
            "SELECT id, conversation_id, text, event_key, status, input_tokens, ttft_ms, "
            "jsonb_array_length(citations), model FROM messages WHERE role = 'assistant'",
        )
    }
    for n, message_id in enumerate(ids):
        assert stored[message_id] == (
            asked[n].conversation_id, f"Answer {n} [1].", f"Ev{n}",
            "incomplete" if n == 6 else "complete", n, None if n == 5 else 10.0 * n,
            1 if n % 2 else 0, "m" if n else None,
        )
    # Each conversation reads back its own answer after its question.
    follow_up = await store.ask(
        Person("slack", "T1", "U3"), ThreadRef("slack", "T1", "D3", "", THREAD.kind),
        title="", text="And?", event_key="Ev9", turns=10,
    )
    assert [t.text for t in follow_up.history] == ["Question 3?", "Answer 3 [1]."]


async def test_an_answer_that_cannot_be_stored_fails_alone_not_with_those_beside_it(
    runtime: Runtime,
):
    store = runtime.conversations
    asked = await asked_in_dms(store, 4)
    # Forget-me removed one person's conversation while their answer was being written.
    async with runtime.db.pool.connection() as conn:
        await conn.execute("DELETE FROM conversations WHERE id = %s", (asked[2].conversation_id,))

    outcomes = await asyncio.gather(
        *(
            store.add_answer(a.conversation_id, Answer(text=f"Answer\x00 {n}."), user_id=None)
            for n, a in enumerate(asked)
        ),
        return_exceptions=True,
    )

    assert isinstance(outcomes[2], psycopg.errors.ForeignKeyViolation)
    assert all(isinstance(outcomes[n], int) for n in (0, 1, 3))
    # A NUL the model wrote is dropped rather than losing the answer.
    assert sorted(
        await rows(runtime.db.pool, "SELECT text FROM messages WHERE role = 'assistant'")
    ) == [("Answer 0.",), ("Answer 1.",), ("Answer 3.",)]
