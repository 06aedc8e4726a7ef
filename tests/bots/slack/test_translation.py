"""Slack's markup as the core reads it: mentions of the bot removed, the rest readable."""

from __future__ import annotations

from bots.slack.events import plain_text, to_question
from core.events import ConversationKind


def test_bot_mention_is_removed_and_other_markup_made_readable():
    text = "<@UBOT> ask <@U123|ann> in <#C1|general> about <https://x.io/a|the doc> &amp; <!here>"
    assert (
        plain_text(text, "UBOT") == "ask @U123 in #general about the doc (https://x.io/a) & @here"
    )


def test_a_mention_is_answered_in_a_thread_under_it():
    body = {"event_id": "Ev1", "team_id": "T1"}
    event = {
        "type": "app_mention",
        "channel": "C1",
        "user": "U2",
        "ts": "10.1",
        "text": "<@UBOT> hi there",
        "team": "T1",
    }
    question = to_question(
        body, event, team_id="T1", bot_user_id="UBOT", token="xoxb", kind=ConversationKind.CHANNEL
    )
    assert question.event.text == "hi there"
    assert question.event.thread.thread_id == "10.1"
    assert question.target.thread_ts == "10.1"
    assert not question.target.assistant_thread
    assert question.event_key == "Ev1"
