"""Teams: a question answered on a second attempt was asked once, and the rate limit sees it
once (tests/reliability/test_rerun_limits.py is the same for Slack)."""

from __future__ import annotations

from pydantic import SecretStr

from bots.settings import AppSettings as Settings
from tests.reliability.conftest import all_finished, eventually, inbox_rows, model_server
from tests.reliability.test_rerun_limits import (
    ASKING_FAST,
    ONE_QUESTION,
    QUESTION,
    fail_first_store,
    limit_hits,
)
from tests.reliability.test_teams_redelivery import (
    ANSWER,
    APP_ID,
    connector,
    entra,
    openid,
    openid_keys,
    settings,
    teams_replica,
    teams_settings,
    tls_files,
)
from tests.support.fake_connector import GROUP_CHAT, FakeConnector
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openid import FakeBotFrameworkOpenId

# The Teams fixtures, used here as in test_teams_redelivery.py.
__all__ = ["connector", "entra", "openid", "openid_keys", "settings", "teams_settings", "tls_files"]


async def test_a_teams_question_answered_on_its_second_attempt_is_not_refused_for_asking_fast(
    settings: Settings,
    connector: FakeConnector,
    openid: FakeBotFrameworkOpenId,
    redis_url: str,
):
    activity = connector.activity(QUESTION, kind=GROUP_CHAT, user="29:rerun-teams")
    conversation = activity["conversation"]["id"]
    key = f"teams:{conversation}:{activity['id']}"
    token = openid.mint(audience=APP_ID, service_url=connector.base_url)
    limited = settings.model_copy(update={"redis_url": SecretStr(redis_url), **ONE_QUESTION})
    async with (
        model_server(FakeOpenAI(default_reply=ANSWER)) as url,
        teams_replica(limited, url) as bot,
    ):
        await fail_first_store(bot.runtime.db.pool, key)
        assert await bot.post(activity, token) == 200
        await eventually(lambda: all_finished(bot.runtime, 1), what="the second attempt")
        rows = await inbox_rows(bot.runtime)
        hits = await limit_hits(bot.runtime.db.pool)

    state, attempts, error = rows[key]
    assert (state, attempts) == ("done", 2)
    assert error is not None and "the store hiccuped" in error
    [reply] = connector.visible(conversation)  # "still on it", edited into the answer
    assert reply.text == ANSWER
    assert not any(ASKING_FAST in m.text for m in connector.visible(conversation))
    assert hits == []
