"""Votes on answers: one per person per answer, changeable, reasons kept or cleared sensibly."""

from __future__ import annotations

from bots.runtime import Runtime
from core.console import CollectingReplyStream
from store.feedback import FeedbackStore
from tests.core.test_assistant import event


async def test_votes_are_one_per_person_changeable_and_only_on_answers(loaded_runtime: Runtime):
    answer = await loaded_runtime.assistant.handle(
        event("How do I reset my password?"), CollectingReplyStream()
    )
    assert answer.message_id is not None
    user = await loaded_runtime.conversations.upsert_user(event("x").person)
    store = FeedbackStore(loaded_runtime.db.pool)

    assert await store.record(message_id=answer.message_id, user_id=user.id, rating=-1)
    assert await store.record(
        message_id=answer.message_id,
        user_id=user.id,
        rating=-1,
        reasons=["inaccurate", "made-up"],
        comment="  Wrong portal.  ",
    )
    vote = await store.get(answer.message_id, user.id)
    assert vote and (vote.rating, vote.reasons, vote.comment) == (
        -1,
        ["inaccurate"],
        "Wrong portal.",
    )

    # The same vote again keeps the reasons; changing it drops them.
    await store.record(message_id=answer.message_id, user_id=user.id, rating=-1)
    assert (await store.get(answer.message_id, user.id)).reasons == ["inaccurate"]
    await store.record(message_id=answer.message_id, user_id=user.id, rating=1)
    vote = await store.get(answer.message_id, user.id)
    assert vote and (vote.rating, vote.reasons, vote.comment) == (1, [], None)

    # Questions and unknown messages cannot be voted on.
    assert not await store.record(message_id=answer.message_id - 1, user_id=user.id, rating=1)
    assert not await store.record(message_id=10**9, user_id=user.id, rating=1)
