"""A question answered on a second attempt was asked once: the rate limit and the budgets see
it once.

The first attempt passes the limits, then fails (the database refuses to store the question,
once); the inbox gives the event back and the worker answers it again. With a bucket of one
question a minute, charging the second attempt too would tell the person "you're asking fast"
for the question they are still waiting on.
"""

from __future__ import annotations

from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from core.settings import Settings
from tests.bots.slack.conftest import dm, new_ts
from tests.reliability.conftest import (
    SORRY,
    STILL_WORKING,
    all_finished,
    eventually,
    inbox_rows,
    replica,
    stored_turns,
)
from tests.support.fake_slack import FakeSlack

QUESTION = "How do I connect to the VPN from home?"
ASKING_FAST = "asking fast"
# One question, then one a minute: a second charge within the test is refused.
ONE_QUESTION: dict[str, object] = {"rate_limit_burst": 1, "rate_limit_per_minute": 1}


async def fail_first_store(pool: AsyncConnectionPool, event_key: str) -> None:
    """The database refuses the first attempt at storing ``event_key``'s question, and only
    that one (a sequence: its count survives the failed transaction)."""
    async with pool.connection() as conn:
        await conn.execute(
            sql.SQL(
                """CREATE SEQUENCE fail_once;
                   CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN
                     IF NEW.event_key = {key} AND nextval('fail_once') = 1 THEN
                       RAISE EXCEPTION 'the store hiccuped';
                     END IF;
                     RETURN NEW;
                   END $$;
                   CREATE TRIGGER fail_once BEFORE INSERT ON messages
                     FOR EACH ROW EXECUTE FUNCTION fail_once();"""
            ).format(key=sql.Literal(event_key))
        )


async def limit_hits(pool: AsyncConnectionPool) -> list[tuple[str, str]]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT kind, platform_user_id FROM limit_hits")
        return [(str(kind), str(user)) for kind, user in await cur.fetchall()]


async def test_a_question_answered_on_its_second_attempt_is_not_refused_for_asking_fast(
    settings: Settings, redis_url: str
):
    fake = FakeSlack()
    user = f"URERUN{new_ts().replace('.', '')}"  # a bucket of its own in the shared Redis
    ts, later = new_ts(), new_ts()
    async with replica(settings, fake, redis_url=SecretStr(redis_url), **ONE_QUESTION) as slack:
        pool = slack.runtime.db.pool
        await fail_first_store(pool, "EvRERUN")
        await slack.event(dm(QUESTION, ts=ts, user=user), event_id="EvRERUN")
        await eventually(lambda: all_finished(slack.runtime, 1), what="the second attempt")
        await slack.settle()
        rows = await inbox_rows(slack.runtime)
        questions, answers = await stored_turns(slack.runtime, ts)
        hits_after_rerun = await limit_hits(pool)

        # The limit itself still holds: the first attempt took the one question there was.
        await slack.event(
            dm("When is payday?", ts=later, user=user, channel="D2"), event_id="EvLATER"
        )
        await eventually(lambda: all_finished(slack.runtime, 2), what="the next question")
        await slack.settle()
        hits_after_next = await limit_hits(pool)

    state, attempts, error = rows["EvRERUN"]
    assert (state, attempts) == ("done", 2)
    assert error is not None and "the store hiccuped" in error  # the first attempt did fail
    [message] = fake.thread("D1", ts)  # "still on it", replaced by the answer
    assert ASKING_FAST not in message.body and STILL_WORKING not in message.body
    assert SORRY not in message.body
    assert questions == [QUESTION] and answers == [message.body]
    assert hits_after_rerun == []

    [refusal] = fake.thread("D2", later)
    assert ASKING_FAST in refusal.body
    assert hits_after_next == [("rate", user)]
