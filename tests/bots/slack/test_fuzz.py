"""Fuzzing the Slack side: whatever reaches ``/slack/events`` — signed or not, well formed or
not — gets a status below 500, no exception escapes, every accepted question ends answered or
refused, and nothing the bot sends to Slack pings a channel, a group or a person."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.slack import escaping, payloads
from bots.slack.events import plain_text, to_question
from core.events import ConversationKind
from tests.bots.slack.conftest import BOT_USER, TEAM, SlackHarness, dm, new_ts, signed
from tests.support.fuzz import (
    EMOJI_FLOOD,
    INJECTIONS,
    broadcasts,
    hostile_text,
    json_values,
    maybe,
    run_property,
    some_keys,
)

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EVENT_TYPES = (
    "message", "app_mention", "app_home_opened", "assistant_thread_started",
    "assistant_thread_context_changed", "reaction_added", "member_joined_channel",
    "app_uninstalled", "tokens_revoked", "something_new",
)
ENVELOPE_TYPES = ("event_callback", "url_verification", "app_rate_limited", "something_new")
SUBTYPES = (None, "file_share", "thread_broadcast", "message_changed", "bot_message", "x")
ids = st.text(alphabet="ABCDEFGHIJ0123456789", min_size=1, max_size=12)
timestamps = st.integers(min_value=1, max_value=2_000_000_000).map(lambda n: f"{n}.000100")


def events() -> st.SearchStrategy[dict[str, Any]]:
    return some_keys(
        {
            "type": maybe(st.sampled_from(EVENT_TYPES)),
            "subtype": maybe(st.sampled_from(SUBTYPES)),
            "channel_type": maybe(st.sampled_from(["im", "channel", "group", "mpim"])),
            "channel": maybe(ids.map(lambda s: "D" + s) | ids.map(lambda s: "C" + s)),
            "user": maybe(ids.map(lambda s: "U" + s)),
            "text": maybe(hostile_text),
            "ts": maybe(timestamps),
            "thread_ts": maybe(timestamps),
            "bot_id": maybe(ids),
            "tab": maybe(st.sampled_from(["home", "messages", "about"])),
            "files": maybe(st.lists(some_keys({"name": hostile_text, "size": json_values}))),
            "edited": json_values,
            "hidden": maybe(st.booleans()),
            "message": maybe(some_keys({"text": maybe(hostile_text), "user": maybe(ids)})),
            "assistant_thread": maybe(
                some_keys({"channel_id": maybe(ids), "thread_ts": maybe(timestamps)})
            ),
        }
    )


def envelopes() -> st.SearchStrategy[dict[str, Any]]:
    """Events API bodies: mostly shaped like Slack's, any field possibly of the wrong type."""
    return some_keys(
        {
            "type": maybe(st.sampled_from(ENVELOPE_TYPES)),
            "team_id": maybe(st.just(TEAM) | ids),
            "api_app_id": maybe(st.just("A0001")),
            "event_id": maybe(ids.map(lambda s: "Ev" + s)),
            "event": maybe(events()),
            "authorizations": maybe(
                st.lists(
                    some_keys(
                        {"team_id": maybe(st.just(TEAM)), "user_id": maybe(st.just(BOT_USER))}
                    ),
                    max_size=2,
                )
            ),
            "challenge": maybe(st.text(max_size=20)),
            "enterprise_id": maybe(ids),
            "is_ext_shared_channel": maybe(st.booleans()),
        }
    )


def questions() -> st.SearchStrategy[dict[str, Any]]:
    """Questions as Slack sends them (a DM, a mention, a thread reply) with hostile text and
    now and then a field changed at random."""
    base = st.builds(
        lambda text, user, kind, n: {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A0001",
            "event_id": f"EvQ{n}",
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            "event": (
                dm(text, user=f"U{user}", channel=f"D{user}", ts=f"{1_700_000_000 + n}.000100")
                if kind == "dm"
                else {
                    "type": "app_mention",
                    "channel": f"C{user}",
                    "user": f"U{user}",
                    "text": f"<@{BOT_USER}> {text}",
                    "ts": f"{1_700_000_000 + n}.000200",
                }
            ),
        },
        hostile_text,
        ids,
        st.sampled_from(["dm", "mention"]),
        st.integers(min_value=0, max_value=10**9),
    )
    changes = some_keys({"event": maybe(events()), "type": maybe(st.sampled_from(ENVELOPE_TYPES))})
    changed = st.sampled_from([False, False, False, True])
    return st.tuples(base, changes, changed).map(lambda t: {**t[0], **t[1]} if t[2] else t[0])


# -- the parsers -----------------------------------------------------------------------------


@FUZZ
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("utf-8", "replace"))))
def test_any_body_parses_or_is_refused_as_malformed(body: str):
    for content_type in ("application/json", "application/x-www-form-urlencoded", None):
        try:
            payloads.parse(body, content_type)
        except payloads.MalformedPayload:
            pass


@FUZZ
@given(st.one_of(envelopes(), questions(), json_values))
def test_a_well_formed_envelope_translates_into_a_question_without_error(body: Any):
    try:
        payloads.parse(json.dumps(body), "application/json")
    except payloads.MalformedPayload:
        return  # the route answers 400
    event = body.get("event")
    if not isinstance(event, dict):
        return
    for kind in ConversationKind:
        question = to_question(
            body, event, team_id=TEAM, bot_user_id=BOT_USER, token="xoxb-1", kind=kind
        )
        assert isinstance(question.event.text, str)
        assert isinstance(question.target.channel, str)
        assert isinstance(question.target.thread_ts, str)


@FUZZ
@given(hostile_text, st.one_of(st.none(), st.just(BOT_USER)))
def test_plain_text_reads_any_markup(text: str, bot: str | None):
    assert isinstance(plain_text(text, bot), str)


@FUZZ
@given(hostile_text, st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_nothing_escaped_for_slack_can_ping_even_when_streamed_in_pieces(
    text: str, cuts: list[int]
):
    assert broadcasts(escaping.mrkdwn(text)) == []
    assert broadcasts(escaping.markdown(text)) == []
    # Streamed chunks are joined by Slack: a "<" or "@he" at the end of one piece must not
    # become a ping with the next.
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in pairwise(points)]
    assert broadcasts("".join(escaping.markdown(p) for p in pieces)) == []


# -- the endpoint ----------------------------------------------------------------------------


async def inbox_states(slack: SlackHarness) -> dict[str, int]:
    async with slack.runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT state, count(*) FROM inbox GROUP BY state")
        return {str(state): int(n) for state, n in await cur.fetchall()}


def sent_to_slack(slack: SlackHarness) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in call.args.items() if k != "token"}
        for call in slack.fake.calls
        if call.method != "auth.test"
    ]


async def test_fuzzed_requests_never_fail_and_never_ping_anyone(slack: SlackHarness):
    statuses: list[int] = []

    async def post(case: tuple[str, Any, bool]) -> None:
        content_type, body, sign = case
        raw = body if isinstance(body, str) else json.dumps(body)
        headers = {"Content-Type": content_type, **(signed(raw) if sign else {})}
        response = await slack.http.post("/slack/events", data=raw, headers=headers)
        statuses.append(response.status)
        # 400: not something Slack sends; 401: not signed by Slack.
        assert response.status in {200, 400, 401}, (response.status, raw[:500])
        if sign:
            assert response.status != 401, raw[:500]

    bodies = st.one_of(
        questions(), questions(), questions(), envelopes(), json_values, st.text(max_size=100)
    )
    cases = st.tuples(
        st.sampled_from(["application/json", "application/json", "text/plain"]),
        bodies,
        st.sampled_from([True, True, True, False]),
    )
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(run_property, loop, cases, post, examples=200)
    await slack.settle()

    assert {200, 400, 401} <= set(statuses)  # the fuzzer reached every outcome
    assert set(await inbox_states(slack)) <= {"done"}  # accepted, then answered or refused
    sent = sent_to_slack(slack)
    assert any(call.get("blocks") or call.get("chunks") for call in sent), "nothing answered"
    assert [(call, found) for call in sent if (found := broadcasts(call))] == []


async def test_mention_injection_is_answered_without_pinging_anyone(slack: SlackHarness):
    asked = []
    texts = (*INJECTIONS, "<!channel> <!here> @here <@U123> <!subteam^S1|@all> What is the VPN?")
    for n, text in enumerate(texts):
        ts = new_ts()
        response = await slack.event(dm(f"{text} How do I connect to the VPN?", user=f"UI{n}",
                                        channel=f"DI{n}", ts=ts))
        assert response.status == 200
        asked.append((f"DI{n}", ts))
    await slack.settle()

    for channel, ts in asked:
        assert slack.fake.thread(channel, ts), "no answer in the thread"
    assert set(await inbox_states(slack)) == {"done"}
    assert [(call, found) for call in sent_to_slack(slack) if (found := broadcasts(call))] == []


async def test_an_emoji_flood_is_refused_politely(slack: SlackHarness):
    ts = new_ts()
    response = await slack.event(dm(EMOJI_FLOOD, user="UFLOOD", channel="DFLOOD", ts=ts))
    assert response.status == 200
    await slack.settle()
    shown = slack.fake.thread_text("DFLOOD", ts)
    assert "characters long" in shown and "10,000" in shown
    assert await slack.answers() == []
