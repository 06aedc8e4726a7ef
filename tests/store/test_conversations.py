"""A question's bookkeeping in one statement: the same rows as the four separate steps."""

from __future__ import annotations

from bots.runtime import Runtime
from core.answers import Answer
from core.events import ConversationKind, Person, ThreadRef
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
