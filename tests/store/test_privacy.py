"""forget-me and export through the command handler: exactly one person's data, no more."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bots.runtime import Runtime
from core.commands.privacy import CacheForgetting
from core.events import ConversationKind, ThreadRef
from core.llm.cache import CachedAnswer, MemoryAnswerCache
from tests.support.conversations import (
    Someone,
    Turn,
    ask,
    commands_at,
    rate,
    rows,
    seed_conversation,
    someone,
)

NOW = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)
IT_HELP = ThreadRef("test", "W1", "C-IT", "", ConversationKind.CHANNEL)


@dataclass
class World:
    alice: Someone
    bob: Someone
    alice_messages: set[int]
    alice_only: set[int]  # conversations nobody else took part in
    shared_started_by_alice: int
    shared_started_by_bob: int
    bob_dm: int
    alice_texts: list[str]
    bob_texts: list[str]


async def build(runtime: Runtime) -> World:
    pool = runtime.db.pool
    alice = await someone(runtime, "UA", email="alice@example.com", name="Alice A.")
    bob = await someone(runtime, "UB", email="bob@example.com", name="Bob B.")
    hour = timedelta(hours=1)
    a1 = await seed_conversation(
        pool,
        [
            Turn(
                alice,
                "Alice: how do I claim my dental costs?",
                NOW - 9 * hour,
                answer="Alice-answer: submit the dental form.",
            ),
            Turn(
                alice,
                "Alice: and for my kids?",
                NOW - 8 * hour,
                answer="Alice-answer: children are covered too.",
            ),
        ],
        thread="a1",
    )
    a2 = await seed_conversation(
        pool,
        [
            Turn(
                alice,
                "Alice: my manager is leaving, who approves leave?",
                NOW - 7 * hour,
                answer="Alice-answer: the skip-level manager.",
            ),
        ],
        thread="a2",
    )
    b1 = await seed_conversation(
        pool,
        [
            Turn(
                bob,
                "Bob: where is the VPN guide?",
                NOW - 6 * hour,
                answer="Bob-answer: on the IT hub.",
            ),
        ],
        thread="b1",
    )
    shared_a = await seed_conversation(
        pool,
        [
            Turn(
                alice,
                "Alice: is the printer on floor 3 fixed?",
                NOW - 5 * hour,
                answer="Alice-answer: a ticket is open.",
            ),
            Turn(
                bob, "Bob: what about floor 4?", NOW - 4 * hour, answer="Bob-answer: floor 4 works."
            ),
        ],
        channel="C-IT",
        thread="s1",
        kind=ConversationKind.CHANNEL,
    )
    shared_b = await seed_conversation(
        pool,
        [
            Turn(
                bob,
                "Bob: wifi password for guests?",
                NOW - 3 * hour,
                answer="Bob-answer: ask reception.",
            ),
            Turn(
                alice,
                "Alice: does it work for contractors?",
                NOW - 2 * hour,
                answer="Alice-answer: contractors use their own network.",
            ),
        ],
        channel="C-IT",
        thread="s2",
        kind=ConversationKind.CHANNEL,
    )

    await rate(
        pool,
        a1.answer_ids[0],
        alice,
        -1,
        at=NOW - hour,
        reasons=["incomplete"],
        comment="Alice comment: which form?",
    )
    await rate(pool, shared_a.answer_ids[1], alice, 1, at=NOW - hour)  # on Bob's answer
    await rate(pool, b1.answer_ids[0], bob, 1, at=NOW - hour)
    await rate(pool, shared_b.answer_ids[0], bob, -1, at=NOW - hour, comment="Bob comment")
    async with pool.connection() as conn:
        for conversation in (a1, a2, b1, shared_a, shared_b):
            await conn.execute(
                """INSERT INTO conversation_summaries
                       (conversation_id, summary, method, last_message_id)
                   VALUES (%s, 'summary', 'extractive', %s)""",
                (conversation.conversation_id, conversation.answer_ids[-1]),
            )
    alice_messages = {
        *a1.question_ids,
        *a1.answer_ids,
        *a2.question_ids,
        *a2.answer_ids,
        shared_a.question_ids[0],
        shared_a.answer_ids[0],
        shared_b.question_ids[1],
        shared_b.answer_ids[1],
    }
    texts = await rows(pool, "SELECT id, text FROM messages ORDER BY id")
    return World(
        alice=alice,
        bob=bob,
        alice_messages=alice_messages,
        alice_only={a1.conversation_id, a2.conversation_id},
        shared_started_by_alice=shared_a.conversation_id,
        shared_started_by_bob=shared_b.conversation_id,
        bob_dm=b1.conversation_id,
        alice_texts=[t for i, t in texts if i in alice_messages],
        bob_texts=[t for i, t in texts if i not in alice_messages],
    )


async def snapshot(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    pool = runtime.db.pool
    return {
        "messages": await rows(pool, "SELECT id, user_id, role, text FROM messages ORDER BY id"),
        "feedback": await rows(
            pool, "SELECT message_id, user_id, rating, reasons, comment FROM feedback ORDER BY id"
        ),
        "conversations": await rows(
            pool, "SELECT id, user_id, title, channel_id, thread_id FROM conversations ORDER BY id"
        ),
        "users": await rows(
            pool, "SELECT id, platform_user_id, display_name, email, role FROM users ORDER BY id"
        ),
        "summaries": await rows(
            pool, "SELECT conversation_id FROM conversation_summaries ORDER BY 1"
        ),
        "inbox": await rows(pool, "SELECT event_key, payload FROM inbox ORDER BY id"),
    }


async def test_forget_me_removes_everything_of_that_user_and_nothing_of_anyone_else(
    runtime: Runtime,
):
    world = await build(runtime)
    handler = commands_at(runtime, NOW)
    before = await snapshot(runtime)
    bob_history = await ask(handler, world.bob, "history", where=IT_HELP)

    reply = await ask(handler, world.alice, "forget-me confirm")

    after = await snapshot(runtime)
    assert reply.ok and "Deleted 2 conversations, 10 messages and 2 feedback ratings" in reply.text
    # Messages: exactly Alice's questions and the answers she got are gone.
    assert after["messages"] == [m for m in before["messages"] if m[0] not in world.alice_messages]
    assert not any(m[1] == world.alice.id for m in after["messages"])
    # Feedback: hers is gone, Bob's stays as it was.
    assert after["feedback"] == [f for f in before["feedback"] if f[1] != world.alice.id]
    assert len(after["feedback"]) == 2
    # Conversations: hers alone are gone; shared ones stay, now titled by Bob's question.
    remaining = {c[0]: c for c in after["conversations"]}
    assert set(remaining) == {
        world.bob_dm,
        world.shared_started_by_alice,
        world.shared_started_by_bob,
    }
    taken_over = remaining[world.shared_started_by_alice]
    assert taken_over[1:3] == (world.bob.id, "Bob: what about floor 4?")
    assert remaining[world.shared_started_by_bob] == next(
        c for c in before["conversations"] if c[0] == world.shared_started_by_bob
    )
    # Her profile keeps only ids; Bob's is untouched.
    users = {u[0]: u for u in after["users"]}
    assert users[world.alice.id][2:4] == (None, None)
    assert users[world.bob.id] == next(u for u in before["users"] if u[0] == world.bob.id)
    # Summaries that quoted her are gone (the job redoes the shared ones); Bob's DM's stays.
    assert after["summaries"] == [(world.bob_dm,)]
    # The inbox keeps every key for dedupe but no longer holds her words.
    payloads = [json.dumps(p) for _, p in after["inbox"]]
    assert len(after["inbox"]) == len(before["inbox"])
    assert not any("Alice" in p for p in payloads)
    assert sum("Bob:" in p for p in payloads) == 3
    # Nothing of hers is left anywhere a text could be.
    everything = json.dumps([after[k] for k in after], default=str)
    for text in world.alice_texts + ["Alice comment", "alice@example.com", "Alice A."]:
        assert text not in everything
    # What people see: her history is empty; Bob's is unchanged.
    assert (await ask(handler, world.alice, "history", where=IT_HELP)).entries == []
    assert (await ask(handler, world.alice, "history dental")).entries == []
    bob_after = await ask(handler, world.bob, "history", where=IT_HELP)
    assert [e.conversation_id for e in bob_after.entries] == [
        e.conversation_id for e in bob_history.entries
    ]
    # The deletion is audited with counts, never content.
    (entry,) = await rows(
        runtime.db.pool, "SELECT actor, action, target, outcome, details FROM audit_log"
    )
    assert entry[:4] == ("test:W1:UA", "forget-me", "test:W1:UA", "ok")
    assert entry[4] == {
        "step": "deleted",
        "conversations": 2,
        "messages": 10,
        "feedback": 2,
        "cached_answers": "none kept",
    }


async def test_export_contains_exactly_the_users_data(runtime: Runtime):
    world = await build(runtime)
    handler = commands_at(runtime, NOW)

    reply = await ask(handler, world.alice, "export")

    data = json.loads(reply.file_content or b"")
    assert data["user"] == {
        "platform": "test",
        "workspace_id": "W1",
        "user_id": "UA",
        "display_name": "Alice A.",
        "email": "alice@example.com",
        "role": "user",
        "created_at": data["user"]["created_at"],
    }
    exported = {m["id"] for c in data["conversations"] for m in c["messages"]}
    assert exported == world.alice_messages
    assert {c["id"] for c in data["conversations"]} == world.alice_only | {
        world.shared_started_by_alice,
        world.shared_started_by_bob,
    }
    titles = {c["id"]: c["title"] for c in data["conversations"]}
    assert titles[world.shared_started_by_alice] == "Alice: is the printer on floor 3 fixed?"
    assert titles[world.shared_started_by_bob] is None  # Bob's question names that thread
    assert sorted((f["rating"], f["comment"]) for f in data["feedback"]) == [
        (-1, "Alice comment: which form?"),
        (1, None),
    ]
    text = reply.file_content.decode() if reply.file_content else ""
    for theirs in world.bob_texts + ["Bob comment", "bob@example.com", "Bob B."]:
        assert theirs not in text
    for mine in world.alice_texts:
        assert mine in text
    # Bob's export is his alone, too.
    bobs = json.loads((await ask(handler, world.bob, "export")).file_content or b"")
    assert not any("Alice" in m["text"] for c in bobs["conversations"] for m in c["messages"])


async def test_forget_me_drops_answers_cached_from_the_users_questions(runtime: Runtime):
    world = await build(runtime)
    cache = MemoryAnswerCache(ttl=3600)
    await cache.put(
        "hr",
        "Alice: how do I claim my dental costs?",
        CachedAnswer(text="Alice-answer: submit the dental form."),
    )
    handler = commands_at(runtime, NOW, answer_cache=CacheForgetting(cache))

    await ask(handler, world.alice, "forget-me confirm")

    assert await cache.get("hr", "Alice: how do I claim my dental costs?") is None
    (details,) = await rows(runtime.db.pool, "SELECT details FROM audit_log")
    assert details[0]["cached_answers"] == "dropped"
