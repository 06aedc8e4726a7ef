"""History through the command handler: grouped by day, paged, private, searchable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestServer

from bots.runtime import Runtime
from core.commands import CommandHandler, CommandReply, CommandRequest, HistoryEntry
from core.console import CollectingReplyStream
from core.embeddings import OpenAIEmbedder
from core.events import ChatEvent, ConversationKind, ThreadRef
from store.knowledge import vector_literal
from tests.support.conversations import (
    Someone,
    Turn,
    ask,
    commands_at,
    seed_conversation,
    someone,
)
from tests.support.fake_openai import FakeOpenAI, hashed_embedding

NOW = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)  # a Monday afternoon
GROUPS = ["Today", "Yesterday", "Last 7 days", "Last 30 days", "Older"]


def expected_group(at: datetime) -> str:
    days = (NOW.date() - at.date()).days
    if days == 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    return "Last 7 days" if days < 7 else "Last 30 days" if days < 30 else "Older"


async def all_pages(
    handler: CommandHandler, who: Someone, text: str, **kwargs: object
) -> list[CommandReply]:
    """Follow the "More" button until there is none, as a user clicking it would."""
    pages = [await ask(handler, who, text, **kwargs)]  # type: ignore[arg-type]
    while pages[-1].actions:
        (more,) = pages[-1].actions
        assert more.label == "More"
        pages.append(await ask(handler, who, more.command, **kwargs))  # type: ignore[arg-type]
        assert len(pages) < 20, "paging never ends"
    return pages


async def test_sixty_conversations_over_three_months_are_grouped_and_paged(runtime: Runtime):
    alice = await someone(runtime, "UA")
    seeded: dict[int, tuple[datetime, str]] = {}
    for n in range(60):
        # Every 36 hours back from just before now: ages 0 to 88 days, all five groups.
        at = NOW - timedelta(minutes=5) - timedelta(hours=36 * n)
        question = f"Question number {n} about the printer on floor {n % 7}"
        done = await seed_conversation(
            runtime.db.pool,
            [Turn(alice, question, at, answer=f"**Answer {n}** [1]\nsecond line")],
            thread=f"t{n}",
        )
        seeded[done.conversation_id] = (at, question)

    handler = commands_at(runtime, NOW, page_size=10)
    pages = await all_pages(handler, alice, "history")

    assert [len(p.entries) for p in pages] == [10, 10, 10, 10, 10, 10]
    assert [bool(p.actions) for p in pages] == [True] * 5 + [False]
    entries: list[HistoryEntry] = [e for p in pages for e in p.entries]
    assert sorted(e.conversation_id for e in entries) == sorted(seeded)
    # Newest first across page boundaries.
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    for entry in entries:
        at, question = seeded[entry.conversation_id]
        assert entry.group == expected_group(at), (entry.title, entry.at)
        assert entry.title == question
        assert entry.preview == f"Answer {entry.title.split()[2]}"
        assert entry.at == at + timedelta(seconds=2)  # the answer is the last activity
        # What an adapter needs to build the permalink.
        assert entry.thread == ThreadRef(
            "test",
            "W1",
            "D-UA",
            f"t{list(seeded).index(entry.conversation_id)}",
            ConversationKind.DM,
        )
    # Headings in order, each once: groups are contiguous.
    seen = [
        g for i, g in enumerate(e.group for e in entries) if i == 0 or entries[i - 1].group != g
    ]
    assert seen == GROUPS
    assert entries[0].when == "14:55"


async def test_today_is_the_callers_day_in_their_timezone(runtime: Runtime):
    alice = await someone(runtime, "UA")
    # 23:30 UTC on Sunday is already 01:30 on Monday in Berlin (summer time began that day).
    await seed_conversation(
        runtime.db.pool,
        [
            Turn(alice, "Late question", datetime(2025, 3, 30, 23, 30, tzinfo=UTC), answer=None),
        ],
        thread="late",
    )
    handler = commands_at(runtime, NOW)
    (utc,) = (await ask(handler, alice, "history")).entries
    (berlin,) = (await ask(handler, alice, "history", timezone="Europe/Berlin")).entries
    assert (utc.group, utc.when) == ("Yesterday", "Yesterday 23:30")
    assert (berlin.group, berlin.when) == ("Today", "01:30")


async def test_user_never_sees_or_finds_another_users_conversations(runtime: Runtime):
    alice, bob = await someone(runtime, "UA"), await someone(runtime, "UB")
    pool = runtime.db.pool
    mine = await seed_conversation(
        pool,
        [
            Turn(alice, "How do I reset my VPN token?", NOW - timedelta(hours=2)),
        ],
        thread="a1",
    )
    theirs = await seed_conversation(
        pool,
        [
            Turn(bob, "My VPN token is lost and my salary slip is wrong", NOW - timedelta(hours=1)),
        ],
        thread="b1",
    )
    handler = commands_at(runtime, NOW)

    listed = await ask(handler, alice, "history")
    assert [e.conversation_id for e in listed.entries] == [mine.conversation_id]
    found = await ask(handler, alice, "history vpn token")
    assert [e.conversation_id for e in found.entries] == [mine.conversation_id]
    nothing = await ask(handler, alice, "history salary slip")
    assert nothing.entries == [] and "Nothing" in nothing.title
    # Bob's own view is the mirror image.
    assert [e.conversation_id for e in (await ask(handler, bob, "history")).entries] == [
        theirs.conversation_id
    ]


async def test_shared_channel_thread_shows_only_in_that_channel(runtime: Runtime):
    alice, bob = await someone(runtime, "UA"), await someone(runtime, "UB")
    pool = runtime.db.pool
    private = await seed_conversation(
        pool,
        [
            Turn(alice, "Private question about parental leave", NOW - timedelta(hours=5)),
        ],
        thread="p1",
    )
    # Bob starts a thread in #it-help; Alice follows up in it.
    shared = await seed_conversation(
        pool,
        [
            Turn(bob, "Bob asks about the secret merger printer", NOW - timedelta(hours=4)),
            Turn(alice, "Alice asks about toner for it", NOW - timedelta(hours=3)),
        ],
        channel="C-IT",
        thread="s1",
        kind=ConversationKind.CHANNEL,
    )
    # A thread in the same channel that Alice never took part in.
    await seed_conversation(
        pool,
        [
            Turn(bob, "Bob alone asks about the badge reader", NOW - timedelta(hours=2)),
        ],
        channel="C-IT",
        thread="s2",
        kind=ConversationKind.CHANNEL,
    )
    handler = commands_at(runtime, NOW)
    it_help = ThreadRef("test", "W1", "C-IT", "", ConversationKind.CHANNEL)
    other = ThreadRef("test", "W1", "C-RANDOM", "", ConversationKind.CHANNEL)

    from_dm = await ask(handler, alice, "history")
    assert [e.conversation_id for e in from_dm.entries] == [private.conversation_id]
    in_channel = await ask(handler, alice, "history", where=it_help)
    assert [e.conversation_id for e in in_channel.entries] == [
        shared.conversation_id,
        private.conversation_id,
    ]
    from_elsewhere = await ask(handler, alice, "history", where=other)
    assert [e.conversation_id for e in from_elsewhere.entries] == [private.conversation_id]
    # Search covers Alice's own words in the shared thread, never Bob's.
    assert [
        e.conversation_id
        for e in (await ask(handler, alice, "history toner", where=it_help)).entries
    ] == [shared.conversation_id]
    assert (await ask(handler, alice, "history merger", where=it_help)).entries == []
    assert (await ask(handler, alice, "history badge reader", where=it_help)).entries == []


async def test_search_shows_the_matching_snippet_and_pages(runtime: Runtime):
    alice = await someone(runtime, "UA")
    pool = runtime.db.pool
    for n in range(12):
        await seed_conversation(
            pool,
            [
                Turn(
                    alice,
                    f"Week {n}: the expense report for the Lisbon trip needs approval?",
                    NOW - timedelta(days=n, hours=1),
                    answer="Submit it in Concur within 30 days of returning.",
                ),
            ],
            thread=f"e{n}",
        )
    await seed_conversation(
        pool,
        [
            Turn(alice, "How do I book a meeting room?", NOW - timedelta(hours=3)),
        ],
        thread="room",
    )
    handler = commands_at(runtime, NOW, page_size=5)

    pages = await all_pages(handler, alice, "history expense report")
    hits = [e for p in pages for e in p.entries]
    assert [len(p.entries) for p in pages] == [5, 5, 2]
    assert len({e.conversation_id for e in hits}) == 12
    for hit in hits:
        assert hit.match == "text"
        assert "**expense**" in (hit.snippet or "").lower()
        assert "**report**" in (hit.snippet or "").lower()
    # The answers the user got are theirs to search too.
    concur = await ask(handler, alice, "history concur")
    assert len(concur.entries) == 5 and "**Concur**" in (concur.entries[0].snippet or "")


async def test_history_search_finds_a_conversation_by_meaning(runtime: Runtime):
    fake = FakeOpenAI(dimensions=64)
    fake.add_synonyms(["laptop", "notebook", "computer"], ["broken", "cracked", "damaged"])
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    embedder = OpenAIEmbedder(model="fake-embed", base_url=str(server.make_url("/v1")))
    try:
        alice, bob = await someone(runtime, "UA"), await someone(runtime, "UB")
        pool = runtime.db.pool
        mine = await seed_conversation(
            pool,
            [
                Turn(alice, "My screen has a crack, what now?", NOW - timedelta(days=3)),
            ],
            thread="m1",
        )
        theirs = await seed_conversation(
            pool,
            [
                Turn(bob, "My screen has a crack too", NOW - timedelta(days=2)),
            ],
            thread="m2",
        )
        async with pool.connection() as conn:
            for seeded, summary in (
                (mine, "Replacing a cracked laptop screen under warranty"),
                (theirs, "Replacing a cracked laptop screen for Bob"),
            ):
                await conn.execute(
                    """INSERT INTO conversation_summaries
                           (conversation_id, summary, method, last_message_id, embedding,
                            embedding_model)
                       VALUES (%s, %s, 'extractive', %s, %s::vector, 'fake-embed')""",
                    (
                        seeded.conversation_id,
                        summary,
                        seeded.answer_ids[-1],
                        vector_literal(hashed_embedding(summary, 64, fake.synonyms)),
                    ),
                )
        handler = commands_at(runtime, NOW, embedder=embedder)
        # "damaged notebook" shares no word with Alice's messages: only meaning finds it.
        reply = await ask(handler, alice, "history damaged notebook")
        assert [(e.conversation_id, e.match) for e in reply.entries] == [
            (mine.conversation_id, "meaning")
        ]
        assert reply.entries[0].snippet == "Replacing a cracked laptop screen under warranty"
        # Without embeddings configured, full text alone answers (and finds nothing here).
        plain = await ask(commands_at(runtime, NOW), alice, "history damaged notebook")
        assert plain.entries == []
    finally:
        await embedder.aclose()
        await server.close()


async def test_runtime_wires_history_for_a_real_question(loaded_runtime: Runtime):
    alice = await someone(loaded_runtime, "UA")
    thread = alice.dm("live-1")
    await loaded_runtime.assistant.handle(
        ChatEvent(
            person=alice.person, thread=thread, text="How do I connect to the VPN from home?"
        ),
        CollectingReplyStream(),
    )
    reply = await loaded_runtime.commands.handle(
        CommandRequest.parse(alice.person, alice.dm(), "history")
    )
    (entry,) = reply.entries
    assert entry.title == "How do I connect to the VPN from home?"
    assert entry.group == "Today" and entry.thread == thread
    assert entry.preview and "[" not in entry.preview
