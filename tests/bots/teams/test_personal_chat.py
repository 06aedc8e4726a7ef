"""A personal chat: the answer streams with Teams' protocol and ends cited, labelled and rateable."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.bots.teams.conftest import BotFactory, BotServer
from tests.support.fake_connector import FakeConnector, Message, Stream

QUESTION = "How do I connect to the VPN from home?"
ANSWER = (
    "Open the GlobalProtect client, enter the portal address vpn.northwind-lumen.example and "
    "sign in with your company account and MFA [1]. If it will not connect, check your home "
    "internet first, then restart the client [1]."
)


@pytest.fixture
async def streaming_bot(make_bot: BotFactory, model) -> BotServer:
    """The bot with a model that writes the answer a few words at a time (about 1.5 s)."""
    fake, overrides = model
    fake.default_reply = ANSWER
    return await make_bot(**overrides)


async def ask(bot: BotServer, text: str = QUESTION, **kwargs: object) -> tuple[dict, Message]:
    activity = bot.connector.activity(text, **kwargs)  # type: ignore[arg-type]
    status, body = await bot.post(activity)
    assert status == 200, body
    await bot.settle()
    conversation = activity["conversation"]["id"]
    visible = bot.connector.visible(conversation)
    assert visible, f"nothing was posted; requests: {[r.status for r in bot.connector.requests]}"
    return activity, visible[-1]


def only_stream(connector: FakeConnector, conversation: str) -> Stream:
    streams = connector.streams_in(conversation)
    assert len(streams) == 1, streams
    return streams[0]


async def test_personal_chat_gets_a_streamed_cited_answer_with_ai_label_and_feedback(
    streaming_bot: BotServer,
):
    bot = streaming_bot
    activity, final = await ask(bot)
    connector = bot.connector
    conversation = activity["conversation"]["id"]
    stream = only_stream(connector, conversation)

    # The stream opened with the status line, then showed the answer as it grew.
    kinds = [kind for _, kind, _ in stream.chunks]
    assert kinds[0] == "informative" and stream.chunks[0][2] == "Searching IT documents…"
    assert kinds.count("streaming") >= 2, kinds
    # Each update carried everything so far.
    texts = [text for _, kind, text in stream.chunks if kind == "streaming"]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))
    sequences = [n for n, _, _ in stream.chunks]
    assert sequences == sorted(sequences) and sequences[0] == 1
    # Teams' rules held: nothing throttled, refused or out of order.
    assert [r.status for r in connector.requests if r.status >= 400] == []

    # The final message closes the same stream with exactly the streamed text.
    assert final.id == stream.stream_id
    info = final.entity("streaminfo")
    assert info == {"type": "streaminfo", "streamType": "final", "streamId": stream.stream_id}
    assert final.text == stream.streamed_text == ANSWER

    # AI label and citations in one schema.org Message entity, one per [n] in the text.
    message = final.entity("https://schema.org/Message")
    assert message is not None
    assert message["@type"] == "Message" and message["@context"] == "https://schema.org"
    assert message["additionalType"] == ["AIGeneratedContent"]
    citations = message["citation"]
    assert citations and len(citations) <= 20
    for citation in citations:
        assert f"[{citation['position']}]" in final.text
        assert citation["@type"] == "Claim"
        assert len(citation["appearance"]["name"]) <= 80
        assert len(citation["appearance"]["abstract"]) <= 160
    assert any("vpn" in c["appearance"]["name"].lower() for c in citations), citations
    # Feedback buttons, and a card listing the sources (the sample documents are files).
    assert final.activity["channelData"]["feedbackLoop"] == {"type": "default"}
    card = final.activity["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["version"] == "1.5"
    assert "vpn-remote-access.html" in json.dumps(card["content"])


async def test_bot_calls_to_teams_carry_the_token_msal_got_from_entra(bot: BotServer, entra):
    await ask(bot)
    assert entra.issued, "msal never asked Entra ID for a token"
    tokens = {r.authorization for r in bot.connector.requests}
    assert tokens == {f"Bearer {entra.issued[0]}"}
    grant = entra.grants[0]
    assert grant.tenant == "tenant-1"  # single-tenant: the app's own tenant
    assert grant.form["client_id"] == "00000000-1111-2222-3333-444444444444"
    assert grant.form["scope"] == "https://api.botframework.com/.default"


async def test_personal_conversation_and_answer_are_stored(bot: BotServer):
    activity, final = await ask(bot)
    async with bot.runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT c.platform, c.kind, c.channel_id, m.role, m.text, m.id
               FROM conversations c JOIN messages m ON m.conversation_id = c.id ORDER BY m.id"""
        )
        rows = await cur.fetchall()
        cur = await conn.execute("SELECT activity_id, message_id FROM teams_messages")
        mapped = await cur.fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("teams", "dm", "user"),
        ("teams", "dm", "assistant"),
    ]
    assert rows[0][2] == activity["conversation"]["id"]
    assert rows[0][4] == QUESTION
    assert rows[1][4] == final.text
    assert mapped == [(final.id, rows[1][5])]


async def test_a_slow_answer_acknowledges_at_once_and_teams_retry_is_answered_once(
    make_bot: BotFactory, model
):
    # Teams sends a message again when the bot has not answered the POST within 15 s. The
    # answer here needs longer than the POST may take (the model waits before its first word),
    # so the POST must be answered before any of it is written, and the retry, carrying the
    # same activity id, must not start a second answer.
    fake, overrides = model
    fake.default_reply = ANSWER
    fake.behaviour.ttft_s = 2.0
    bot = await make_bot(**overrides)
    activity = bot.connector.activity(QUESTION)
    conversation = activity["conversation"]["id"]

    status, _ = await bot.post(activity)
    assert status == 200
    assert not any(ANSWER.split()[0] in (m.text or "") for m in bot.connector.visible(conversation))
    assert fake.count("chat") <= 1  # the model may have been asked; nothing has come back

    status, _ = await bot.post(activity)  # Teams' retry, same activity id
    assert status == 200
    await bot.settle()

    assert fake.count("chat") == 1
    assert len(bot.connector.streams_in(conversation)) == 1
    [answer] = bot.connector.visible(conversation)
    assert answer.text.startswith(ANSWER.split()[0])
