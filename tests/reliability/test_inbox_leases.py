"""The inbox as a work queue: leases, claims by several replicas, attempts, fencing."""

from __future__ import annotations

import asyncio

from bots.runtime import Runtime
from core.events import ConversationKind, Person, ThreadRef
from store.inbox import EventInbox
from tests.reliability.conftest import inbox_rows


def replicas(runtime: Runtime, n: int = 2, **kwargs: float) -> list[EventInbox]:
    """``n`` inboxes on one database, as ``n`` replicas would have."""
    return [
        EventInbox(runtime.db.pool, replica=f"replica-{i}", **kwargs)  # type: ignore[arg-type]
        for i in range(n)
    ]


async def expire(runtime: Runtime, *keys: str) -> None:
    """Let the leases of ``keys`` run out now (as if their holder stopped renewing)."""
    async with runtime.db.pool.connection() as conn:
        await conn.execute(
            "UPDATE inbox SET lease_until = now() - interval '1 second' WHERE event_key = ANY(%s)",
            (list(keys),),
        )


async def test_a_held_event_is_not_claimed_until_its_lease_runs_out(runtime: Runtime):
    alive, other = replicas(runtime)
    claim = await alive.accept("Ev1", "slack", {"event": {"text": "hi"}})
    assert claim is not None and claim.attempt == 1
    assert await other.claim_due(["slack"], 10) == []

    await expire(runtime, "Ev1")
    [again] = await other.claim_due(["slack"], 10)
    assert (again.event_key, again.attempt, again.payload) == ("Ev1", 2, {"event": {"text": "hi"}})
    assert again.token != claim.token
    # The row is now held by the other replica: nobody else gets it.
    assert await alive.claim_due(["slack"], 10) == []


async def test_replicas_claiming_at_once_never_take_the_same_event(runtime: Runtime):
    first, *claimers = replicas(runtime, 4)
    keys = [f"Ev{i}" for i in range(30)]
    for key in keys:
        assert await first.accept(key, "slack", {}) is not None
    await expire(runtime, *keys)
    results = await asyncio.gather(*(c.claim_due(["slack"], 30) for c in claimers))
    taken = [claim.event_key for claims in results for claim in claims]
    assert sorted(taken) == sorted(keys)  # every one claimed, none twice


async def test_the_bookkeeping_of_a_lost_lease_changes_nothing(runtime: Runtime):
    slow, fast = replicas(runtime)
    stale = await slow.accept("Ev1", "slack", {})
    assert stale is not None
    await expire(runtime, "Ev1")
    [current] = await fast.claim_due(["slack"], 1)

    await slow.done(stale)  # too late: the event is the other replica's now
    assert (await inbox_rows(runtime))["Ev1"][0] == "working"
    await fast.done(current)
    assert (await inbox_rows(runtime))["Ev1"][0] == "done"


async def test_renewing_keeps_an_answer_that_runs_long_from_being_taken_over(runtime: Runtime):
    working, other = replicas(runtime)
    assert await working.accept("Ev1", "slack", {}) is not None
    await expire(runtime, "Ev1")
    assert await working.renew() == 1
    assert await other.claim_due(["slack"], 10) == []


async def test_a_failed_attempt_is_given_back_and_the_last_one_fails_the_event(runtime: Runtime):
    [inbox] = replicas(runtime, 1, retry_delay_s=0.0, max_attempts=2)
    claim = await inbox.accept("Ev1", "slack", {})
    assert claim is not None
    assert await inbox.retry(claim, "StoreUnavailable: restarting", progress={"ts": ["1.000001"]})
    assert (await inbox_rows(runtime))["Ev1"] == ("pending", 1, "StoreUnavailable: restarting")

    [second] = await inbox.claim_due(["slack"], 10)
    assert second.attempt == 2 and second.progress == {"ts": ["1.000001"]}
    assert not await inbox.retry(second, "StoreUnavailable: restarting")
    state, attempts, error = (await inbox_rows(runtime))["Ev1"]
    assert (state, attempts) == ("failed", 2)
    assert error is not None and error.startswith("gave up after 2 attempts")


async def test_an_event_out_of_attempts_is_claimed_as_exhausted(runtime: Runtime):
    # Each attempt's replica dies holding the event; the next replica claims it.
    first, second, third = replicas(runtime, 3, max_attempts=2)
    assert await first.accept("Ev1", "teams", {}) is not None
    await expire(runtime, "Ev1")
    [claimed] = await second.claim_due(["teams"], 10)
    assert not claimed.exhausted
    await expire(runtime, "Ev1")
    [last] = await third.claim_due(["teams"], 10)
    assert last.exhausted and last.attempt == 2  # not counted as another attempt


async def test_a_redelivered_event_forgets_what_its_dead_attempt_stored(runtime: Runtime):
    dead, inbox = replicas(runtime)

    store = runtime.conversations
    user = await store.upsert_user(Person("slack", "T1", "U1"))
    conversation = await store.open_conversation(
        ThreadRef("slack", "T1", "D1", "1.0", ConversationKind.DM), user.id, "title"
    )
    await store.add_question(conversation, user.id, "How do I reset my password?", "Ev1")
    await store.add_question(conversation, user.id, "Another question", "Ev2")
    assert await dead.accept("Ev1", "slack", {}) is not None
    await expire(runtime, "Ev1")
    [claim] = await inbox.claim_due(["slack"], 1)
    await inbox.forget_attempt(claim)
    turns = await store.recent_turns(conversation, 10)
    assert [t.text for t in turns] == ["Another question"]


async def test_inbox_depth_counts_what_is_unfinished(runtime: Runtime):
    [inbox] = replicas(runtime, 1)
    for key in ("Ev1", "Ev2", "Ev3"):
        await inbox.accept(key, "slack", {})
    claims = {key: claim for key in ("Ev4",) if (claim := await inbox.accept(key, "slack", {}))}
    await inbox.done(claims["Ev4"])
    depth = await inbox.depth()
    assert (depth.pending, depth.working) == (0, 3)
    assert depth.oldest_s >= 0


async def test_an_abandoned_attempt_is_no_longer_renewed_and_is_taken_over(runtime: Runtime):
    broken, other = replicas(runtime)
    claim = await broken.accept("Ev1", "slack", {})
    assert claim is not None
    broken.abandon(claim)  # its answer broke before it could say how it ended
    await expire(runtime, "Ev1")
    assert await broken.renew() == 0
    [again] = await other.claim_due(["slack"], 1)
    assert again.attempt == 2


async def test_what_a_stopping_replica_still_holds_is_taken_over_at_once(runtime: Runtime):
    stopping, other = replicas(runtime)
    assert await stopping.accept("Ev1", "slack", {}) is not None
    assert await other.claim_due(["slack"], 1) == []  # leased for another minute
    assert await stopping.release_held() == 1
    [taken] = await other.claim_due(["slack"], 1)
    assert taken.event_key == "Ev1" and taken.attempt == 2
