"""The inbox answers each event once, across replicas."""

from __future__ import annotations

import asyncio

from bots.runtime import Runtime
from core.answers import Answer
from core.events import ConversationKind, Person, ThreadRef
from core.worker import ClaimedEvent
from store.inbox import EventInbox
from tests.support.conversations import rows


async def states(runtime: Runtime) -> dict[str, str]:
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT event_key, state FROM inbox")
        return dict(await cur.fetchall())


async def test_same_event_delivered_three_times_is_accepted_once(runtime: Runtime):
    inbox = EventInbox(runtime.db.pool)
    claims = await asyncio.gather(*(inbox.accept("Ev1", "slack", {"n": i}) for i in range(3)))
    assert sorted(claim is not None for claim in claims) == [False, False, True]
    assert await states(runtime) == {"Ev1": "working"}


async def test_two_replicas_accept_an_event_once(runtime: Runtime):
    replica_a = EventInbox(runtime.db.pool, replica="a")
    replica_b = EventInbox(runtime.db.pool, replica="b")
    claims = await asyncio.gather(
        replica_a.accept("Ev2", "slack", {}), replica_b.accept("Ev2", "slack", {})
    )
    assert sorted(claim is not None for claim in claims) == [False, True]
    # A different event still goes through.
    assert await replica_b.accept("Ev3", "slack", {}) is not None


async def test_one_message_under_two_event_ids_is_accepted_once_across_replicas(
    runtime: Runtime,
):
    replica_a = EventInbox(runtime.db.pool, replica="a")
    replica_b = EventInbox(runtime.db.pool, replica="b")
    message = "slack:T1:D1:1700000000.000100"
    claims = await asyncio.gather(
        replica_a.accept("Ev5", "slack", {}, message_key=message),
        replica_b.accept("Ev6", "slack", {}, message_key=message),
    )
    assert sorted(claim is not None for claim in claims) == [False, True]
    assert len(await states(runtime)) == 1


async def test_done_and_failed_are_recorded(runtime: Runtime):
    inbox = EventInbox(runtime.db.pool)
    ok = await inbox.accept("ok", "slack", {})
    bad = await inbox.accept("bad", "slack", {})
    assert ok is not None and bad is not None
    await inbox.done(ok)
    await inbox.failed(bad, "model unreachable")
    assert await states(runtime) == {"ok": "done", "bad": "failed"}


async def accepted_with_one_taken_over(
    runtime: Runtime, inbox: EventInbox, prefix: str, n: int, *, taken: int
) -> list[ClaimedEvent]:
    """``n`` events accepted by ``inbox``; the lease of number ``taken`` ran out and another
    replica holds that event now: its books are not ``inbox``'s to keep."""
    claims = [await inbox.accept(f"{prefix}{i}", "slack", {}) for i in range(n)]
    async with runtime.db.pool.connection() as conn:
        await conn.execute(
            "UPDATE inbox SET claim = 'other' WHERE event_key = %s", (f"{prefix}{taken}",)
        )
    assert all(c is not None for c in claims)
    return [c for c in claims if c is not None]


async def test_answers_finishing_together_are_settled_at_once_and_only_where_still_held(
    runtime: Runtime,
):
    inbox = EventInbox(runtime.db.pool, replica="a")
    claims = await accepted_with_one_taken_over(runtime, inbox, "together", 20, taken=7)
    before = runtime.db.pool.get_stats()["requests_num"]

    await asyncio.gather(*(inbox.done(c) for c in claims))

    assert runtime.db.pool.get_stats()["requests_num"] - before == 1
    states_now = await states(runtime)
    assert states_now.pop("together7") == "working"
    assert set(states_now.values()) == {"done"} and len(states_now) == 19
    assert inbox.held == frozenset()


async def test_progress_written_together_reaches_each_row_still_held(runtime: Runtime):
    inbox = EventInbox(runtime.db.pool, replica="a")
    claims = await accepted_with_one_taken_over(runtime, inbox, "streaming", 12, taken=4)
    before = runtime.db.pool.get_stats()["requests_num"]

    await asyncio.gather(*(inbox.progress(c, {"ts": f"17000.{n}"}) for n, c in enumerate(claims)))

    assert runtime.db.pool.get_stats()["requests_num"] - before == 1
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event_key, progress FROM inbox WHERE event_key LIKE 'streaming%'"
        )
        kept = dict(await cur.fetchall())
    assert kept.pop("streaming4") == {}
    assert kept == {f"streaming{n}": {"ts": f"17000.{n}"} for n in range(12) if n != 4}


async def test_a_retry_after_a_crash_replaces_the_answer_and_never_duplicates_it(
    runtime: Runtime,
):
    # The first attempt stored the question and its answer, then its replica died before the
    # event was marked done; the answer's id never reached the inbox row.
    store = runtime.conversations
    maria = Person("slack", "T1", "U1")
    thread = ThreadRef("slack", "T1", "D1", "", ConversationKind.DM)
    dead, alive = EventInbox(runtime.db.pool, replica="a"), EventInbox(runtime.db.pool, replica="b")
    assert await dead.accept("Ev1", "slack", {}) is not None
    asked = await store.ask(maria, thread, title="VPN", text="How do I connect to the VPN?",
                            event_key="Ev1", turns=10)
    await store.add_answer(asked.conversation_id, Answer(text="Open the VPN app [1]."),
                           user_id=asked.user.id, event_key="Ev1")
    async with runtime.db.pool.connection() as conn:
        await conn.execute("UPDATE inbox SET lease_until = now() - interval '1 second'")

    [claim] = await alive.claim_due(["slack"], 10)
    assert claim.progress == {}
    await alive.forget_attempt(claim)
    again = await store.ask(maria, thread, title="VPN", text="How do I connect to the VPN?",
                            event_key="Ev1", turns=10)
    assert again.history == []  # the dead attempt's turns are gone, not read back
    await store.add_answer(again.conversation_id, Answer(text="Open the VPN app [1]."),
                           user_id=again.user.id, event_key="Ev1")
    await alive.done(claim)

    assert await rows(
        runtime.db.pool, "SELECT role, text, event_key FROM messages ORDER BY id"
    ) == [
        ("user", "How do I connect to the VPN?", "Ev1"),
        ("assistant", "Open the VPN app [1].", "Ev1"),
    ]


async def test_replicas_taking_the_same_burst_in_opposite_orders_accept_each_event_once(
    runtime: Runtime,
):
    # Slack retries a slow delivery, and the retry may reach another replica while the first
    # is still being written: two batches holding the same events, in any order. Each event
    # is accepted once, and neither replica's batch fails.
    replica_a = EventInbox(runtime.db.pool, replica="a")
    replica_b = EventInbox(runtime.db.pool, replica="b")
    keys = [f"EvBurst{i:04d}" for i in range(200)]  # one batch each (store/arrivals.py)

    body = {"text": "a long message " * 2000}  # rows slow enough to write that batches overlap

    def deliver(inbox: EventInbox, order: list[str]) -> list:
        return [
            inbox.accept(key, "slack", body, message_key=f"slack:T1:D1:{key}") for key in order
        ]

    claims = await asyncio.gather(
        *deliver(replica_a, keys), *deliver(replica_b, keys[::-1]), return_exceptions=True
    )
    assert not [c for c in claims if isinstance(c, BaseException)]
    accepted = [c.event_key for c in claims if c is not None]
    assert sorted(accepted) == keys
