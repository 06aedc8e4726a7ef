"""Bad input at both endpoints, shrugged off: too big is 413, not JSON is 400, malformed is 400,
unknown kinds are acknowledged and ignored, and characters Postgres cannot store never turn a
question into a 500. The real server over HTTP: signed Slack requests against the fake Slack
Web API, Teams in anonymous local mode against the fake Bot Connector."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bots.settings import AppSettings as Settings
from bots.teams import TEAMS
from tests.bots.slack.conftest import SlackHarness, dm, new_ts, running_slack, signed
from tests.support.fake_connector import FakeConnector
from tests.support.fake_slack import FakeSlack

LIMIT = 64 * 1024


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector(min_interval_s=0.05)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[SlackHarness]:
    """Slack configured, Teams in anonymous local mode, a small body limit."""
    async with running_slack(
        settings, FakeSlack(), max_body_bytes=LIMIT, teams_stream_interval=0.05
    ) as harness:
        yield harness


async def post_raw(
    server: SlackHarness, path: str, body: str, *, sign: bool = False
) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", **(signed(body) if sign else {})}
    response = await server.http.post(path, data=body.encode("utf-8"), headers=headers)
    return response.status, await response.text()


def teams_message(connector: FakeConnector, text: str, **changes: Any) -> dict[str, Any]:
    return {**connector.activity(text), **changes}


async def settle_teams(server: SlackHarness) -> None:
    await server.http.app[TEAMS].idle()


async def inbox_states(server: SlackHarness) -> dict[str, int]:
    async with server.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT state, count(*) FROM inbox GROUP BY state")
        return {str(state): int(n) for state, n in await cur.fetchall()}


async def test_a_body_over_the_limit_gets_413_at_both_endpoints(server: SlackHarness):
    padding = "x" * (LIMIT + 1)
    slack_body = json.dumps(server.envelope(dm(f"Hi {padding}")))
    assert (await post_raw(server, "/slack/events", slack_body, sign=True))[0] == 413
    assert (await post_raw(server, "/slack/events", slack_body))[0] == 413
    teams_body = json.dumps({"type": "message", "text": padding})
    assert (await post_raw(server, "/api/messages", teams_body))[0] == 413
    # Just under the limit is read, and refused politely as a question far too long.
    ts = new_ts()
    assert (await server.event(dm("why " * (LIMIT // 5), channel="DBIG", ts=ts))).status == 200
    await server.settle()
    assert "characters long" in server.fake.thread_text("DBIG", ts)


async def test_invalid_json_gets_400_at_both_endpoints(server: SlackHarness):
    for body in ("{not json", '{"type": "event_callback",', "\x00", "[]", '"text"', "null", ""):
        status, text = await post_raw(server, "/slack/events", body, sign=True)
        assert status == 400, (body, status, text)
        status, text = await post_raw(server, "/api/messages", body)
        assert status == 400, (body, status, text)
    # Not UTF-8 at all.
    raw = b'{"type": "event_callback", "x": "\xff\xfe"}'
    response = await server.http.post(
        "/slack/events", data=raw, headers={"Content-Type": "application/json", **signed("x")}
    )
    assert response.status == 400


async def test_malformed_envelopes_and_activities_get_400_not_500(
    server: SlackHarness, connector: FakeConnector
):
    good = server.envelope(dm("How do I reset my password?"))
    for broken in (
        {**good, "event": "a string"},
        {**good, "event": {**good["event"], "files": "not a list"}},
        {**good, "event": {**good["event"], "text": {"nested": True}}},
        {**good, "team": 42},
        {**good, "authorizations": "nope"},
        {**good, "authorizations": [None]},
        {"type": "block_actions", "user": "U1", "actions": [{"value": "x"}]},
    ):
        status, text = await post_raw(server, "/slack/events", json.dumps(broken), sign=True)
        assert status == 400, (broken, status, text)
    for broken in (
        {**connector.activity("hi"), "conversation": None},
        {**connector.activity("hi"), "from": {"name": "no id"}},
        {**connector.activity("hi"), "entities": [None]},
        {**connector.activity("hi"), "channelData": {"tenant": "a string"}},
        {**connector.activity("hi"), "serviceUrl": None},
    ):
        status, text = await post_raw(server, "/api/messages", json.dumps(broken))
        assert status == 400, (broken, status, text)
    await server.settle()
    assert server.fake.calls_to("chat.postMessage") == []
    assert connector.requests == []


async def test_unknown_event_and_activity_types_are_acknowledged_and_ignored(
    server: SlackHarness, connector: FakeConnector
):
    for body in (
        {"type": "brand_new_envelope", "team_id": server.team},
        server.envelope({"type": "brand_new_event", "channel": "C1", "user": "U1"}),
        server.envelope({"type": "message", "subtype": "brand_new_subtype", "channel": "D1"}),
        server.envelope({}),
    ):
        status, _ = await post_raw(server, "/slack/events", json.dumps(body), sign=True)
        assert status == 200, body
    for activity in (
        teams_message(connector, "hi", type="brandNewActivity"),
        teams_message(connector, "hi", type="messageReaction"),
        teams_message(connector, "hi", type="event", name="something/new"),
    ):
        status, _ = await post_raw(server, "/api/messages", json.dumps(activity))
        assert status == 200, activity
    await server.settle()
    await settle_teams(server)
    assert [c.method for c in server.fake.calls if c.method != "auth.test"] == []
    assert connector.requests == []
    assert await inbox_states(server) == {}


async def test_characters_postgres_cannot_store_do_not_break_a_question(
    server: SlackHarness, connector: FakeConnector
):
    nasty = "How do I reset\u0000 my password? \ud800 \u202e\u200f"
    ts = new_ts()
    body = json.dumps(server.envelope(dm(nasty, channel="DNUL", ts=ts)))
    assert "\\u0000" in body
    assert (await post_raw(server, "/slack/events", body, sign=True))[0] == 200
    activity = teams_message(connector, nasty)
    assert (await post_raw(server, "/api/messages", json.dumps(activity)))[0] == 200
    await server.settle()
    await settle_teams(server)

    assert server.fake.thread("DNUL", ts), "Slack got no answer"
    assert connector.visible(activity["conversation"]["id"]), "Teams got no answer"
    assert await inbox_states(server) == {"done": 2}
    questions = [text for _, text in await user_messages(server)]
    assert questions and all("\x00" not in q and "\u202e" not in q for q in questions)


async def user_messages(server: SlackHarness) -> list[tuple[int, str]]:
    async with server.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT id, text FROM messages WHERE role = 'user' ORDER BY id")
        return [(int(r[0]), str(r[1])) for r in await cur.fetchall()]
