"""``unanswered``: declined questions, 👎 with reasons and hand-offs, grouped by meaning, each
group ready to become a verified answer. Real Postgres, rows seeded at chosen times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bots.runtime import Runtime
from core.commands import CommandRequest
from core.embeddings import OpenAIEmbedder
from tests.support.conversations import (
    Turn,
    ask,
    commands_at,
    rate,
    rows,
    seed_conversation,
    someone,
)
from tests.support.fake_openai import FakeOpenAI, serve_fake

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


async def declined(runtime: Runtime, who, question: str, at: datetime, thread: str) -> int:
    seeded = await seed_conversation(
        runtime.db.pool, [Turn(who, question, at, answer="I couldn't find that.")], thread=thread
    )
    async with runtime.db.pool.connection() as conn:
        await conn.execute(
            "UPDATE messages SET status = 'not_found' WHERE id = %s", (seeded.answer_ids[0],)
        )
    return seeded.answer_ids[0]


async def test_declined_disliked_and_handed_off_questions_are_grouped_most_frequent_first(
    runtime: Runtime,
):
    ana = await someone(runtime, "UADMIN", name="Ana", email="ana@example.com")
    bob, cy = await someone(runtime, "UBOB"), await someone(runtime, "UCY")
    pool = runtime.db.pool
    # Asked three ways by two people, declined each time.
    await declined(runtime, bob, "How do I expense a client dinner?", NOW - timedelta(days=2), "a")
    await declined(runtime, cy, "How do I expense a client dinner?", NOW - timedelta(days=1), "b")
    await declined(runtime, cy, "Can I expense a dinner with a client?", NOW - timedelta(hours=3), "c")
    # A 👎 with reasons and a comment.
    seeded = await seed_conversation(
        pool, [Turn(bob, "How do I set up the printer on my Mac?", NOW - timedelta(days=1))],
        thread="d",
    )
    await rate(pool, seeded.answer_ids[0], bob, -1, at=NOW - timedelta(hours=20),
               reasons=["inaccurate", "incomplete"], comment="It describes Windows only.")
    # Handed to a person.
    handed = await seed_conversation(
        pool, [Turn(cy, "Who approves a sabbatical?", NOW - timedelta(hours=5))], thread="e"
    )
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO handoffs (message_id, user_id, created_at) VALUES (%s, %s, %s)",
            (handed.answer_ids[0], cy.id, NOW - timedelta(hours=4)),
        )
    # Older than the window, and a 👍: neither is listed.
    await declined(runtime, bob, "Where is the gym?", NOW - timedelta(days=12), "f")
    liked = await seed_conversation(pool, [Turn(bob, "When is payday?", NOW - timedelta(days=1))],
                                    thread="g")
    await rate(pool, liked.answer_ids[0], bob, 1, at=NOW - timedelta(hours=2))

    handler = commands_at(runtime, NOW, admins=("ana@example.com",))
    reply = await ask(handler, ana, "unanswered 7d")

    assert reply.ok
    first, *others = reply.items
    assert "How do I expense a client dinner?" in first.text
    assert "3× by 2 people" in first.text and "not in the documents ×3" in first.text
    assert "Can I expense a dinner with a client?" in first.text  # another way it was asked
    assert f"last {NOW - timedelta(hours=3):%d %b %H:%M} UTC" in first.text
    assert len(others) == 2
    printer = next(item for item in others if "printer" in item.text)
    assert "👎 ×1" in printer.text and "inaccurate ×1" in printer.text
    assert "It describes Windows only." in printer.text
    assert any("sabbatical" in item.text and "handed to a person ×1" in item.text for item in others)
    assert "gym" not in reply.text and "payday" not in reply.text

    # "Write a verified answer" opens a form prefilled with the question; submitting it adds one.
    action = first.actions[0]
    assert action.label == "Write a verified answer" and action.form is not None
    assert action.form.fields[0].value == "How do I expense a client dinner?"
    command = action.form.command({"question": action.form.fields[0].value,
                                   "answer": "Use the Expenses app; category Client meals."})
    saved = await handler.handle(CommandRequest.parse(ana.person, ana.dm(), command))
    assert saved.ok, saved.text
    stored = await rows(pool, "SELECT question, answer, source_url FROM verified_answers")
    assert stored == [("How do I expense a client dinner?",
                       "Use the Expenses app; category Client meals.", None)]

    wider = await ask(handler, ana, "unanswered 30d")
    assert "Where is the gym?" in wider.text
    audit = await rows(pool, "SELECT action, outcome, details ->> 'days' FROM audit_log "
                             "WHERE action = 'unanswered' ORDER BY id")
    assert audit == [("unanswered", "ok", "7"), ("unanswered", "ok", "30")]


async def test_nothing_unanswered_says_so(runtime: Runtime):
    ana = await someone(runtime, "UADMIN", email="ana@example.com")
    reply = await ask(commands_at(runtime, NOW, admins=("ana@example.com",)), ana, "unanswered")
    assert reply.ok and reply.items == [] and "Nothing went unanswered" in reply.title


async def test_with_embeddings_questions_are_grouped_by_their_vectors(runtime: Runtime):
    fake = FakeOpenAI(dimensions=64)
    fake.add_synonyms(["laptop", "notebook"], ["broken", "cracked"], ["my", "the"])
    ana = await someone(runtime, "UADMIN", email="ana@example.com")
    bob = await someone(runtime, "UBOB")
    await declined(runtime, bob, "My laptop screen is broken", NOW - timedelta(hours=4), "a")
    await declined(runtime, bob, "the notebook screen is cracked", NOW - timedelta(hours=3), "b")
    await declined(runtime, bob, "Where is the gym?", NOW - timedelta(hours=2), "c")
    async with serve_fake(fake) as url:
        embedder = OpenAIEmbedder(model="fake-embed", base_url=url, api_key="test")
        try:
            handler = commands_at(
                runtime, NOW, admins=("ana@example.com",), embedder_for_groups=embedder
            )
            reply = await ask(handler, ana, "unanswered")
        finally:
            await embedder.aclose()
    assert fake.count("embeddings") == 1
    laptop, gym = reply.items
    assert "My laptop screen is broken" in laptop.text
    assert "the notebook screen is cracked" in laptop.text
    assert "Where is the gym?" in gym.text
    assert "2× by 1 person" in reply.items[0].text
