"""forget-me in Slack leaves nothing of the person in any table: the questions they asked in
their DM and in a shared thread, the answers, the refused question, the inbox payloads of all
of them, their limit refusals (tests/support/everywhere.py reads every table)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr

from core.settings import Settings
from tests.bots.slack.conftest import BOT_USER, TEAM, dm, new_ts, running_slack
from tests.bots.slack.test_commands_e2e import buttons, press, shown, slash
from tests.support.conversations import rows
from tests.support.everywhere import assert_forgotten, redis_mentioning, tables_mentioning
from tests.support.fake_slack import FakeSlack

ALICE, BOB = "UALICEF0RGET", "UBOBK33P"
HERS = ("How do I connect to the VPN from home?", "How many days of annual leave do I get?")
REFUSED = "When is payday, please?"
HIS = "What is the travel expense policy?"


def mention(text: str, *, user: str, **where: str) -> dict[str, str]:
    """``@Switchboard text`` in the shared channel."""
    event = dm(f"<@{BOT_USER}> {text}", user=user, channel="CSHARED", type="app_mention", **where)
    event.pop("channel_type")
    return event


async def test_forget_me_leaves_nothing_of_the_person_in_any_table(settings: Settings):
    fake = FakeSlack()
    async with running_slack(settings, fake, rate_limit_burst=2, rate_limit_per_minute=1) as slack:
        pool = slack.runtime.db.pool
        thread = new_ts()  # a channel thread Bob starts and Alice joins
        await slack.event(mention(HIS, user=BOB, ts=thread))
        await slack.settle()
        await slack.event(mention(HERS[1], user=ALICE, thread_ts=thread))
        await slack.event(dm(HERS[0], user=ALICE, channel="DALICE"))
        await slack.settle()
        await slack.event(dm(REFUSED, user=ALICE, channel="DALICE"))
        await slack.settle()
        assert await tables_mentioning(pool, ALICE) >= {"inbox", "limit_hits", "users"}
        [(alice_id,)] = await rows(pool, "SELECT id FROM users WHERE platform_user_id = %s", ALICE)

        ask = await slash(slack, ALICE, "forget-me")
        done = await press(slack, ALICE, buttons(ask)["Yes, delete my data"], "D" + ALICE)
        assert "forgotten you" in shown(done)

        await assert_forgotten(pool, alice_id, [ALICE, *HERS, REFUSED])
        # Bob's question and its answer stay, in the thread Alice took part in.
        assert "messages" in await tables_mentioning(pool, HIS)
        assert "inbox" in await tables_mentioning(pool, BOB)
        assert await rows(
            pool, "SELECT count(*) FROM conversations WHERE workspace_id = %s", TEAM
        ) == [(1,)]


def _lookups(fake: FakeSlack, user: str) -> int:
    """Identity lookups of ``user`` (the time-zone lookup of commands asks no locale)."""
    return len([
        c for c in fake.calls
        if c.method == "users.info" and c.args.get("user") == user
        and c.args.get("include_locale") == "true"
    ])


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
async def test_forget_me_forgets_who_the_person_is_in_every_cache(
    settings: Settings, redis_url: str, shared: bool
):
    """Their email and locale, learned from users.info, are remembered outside Postgres too
    (Redis shared by the replicas, or the process): forget-me clears them there, so nothing
    keeps their address and their next question asks Slack afresh."""
    fake = FakeSlack()
    email = f"alice.{uuid.uuid4().hex[:8]}@example.com"
    fake.user_emails[ALICE] = email
    overrides = {"redis_url": SecretStr(redis_url)} if shared else {}
    async with running_slack(settings, fake, **overrides) as slack:
        await slack.event(dm(HERS[0], user=ALICE, channel="DALICE"))
        await slack.settle()
        assert _lookups(fake, ALICE) == 1
        redis = slack.runtime.redis
        if shared:
            assert redis is not None and await redis_mentioning(redis, email)

        ask = await slash(slack, ALICE, "forget-me")
        done = await press(slack, ALICE, buttons(ask)["Yes, delete my data"], "D" + ALICE)
        assert "forgotten you" in shown(done)

        if shared:
            assert redis is not None and await redis_mentioning(redis, email) == []
        await slack.event(dm(HERS[1], user=ALICE, channel="DALICE"))
        await slack.settle()
        assert _lookups(fake, ALICE) == 2  # not remembered: looked up again
