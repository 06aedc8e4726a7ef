"""👍/👎 under an answer: stored against the message and the person, and a 👎 asks why."""

from __future__ import annotations

from typing import Any

from core.events import Person
from store.feedback import FeedbackStore
from tests.bots.slack.conftest import TEAM, SlackHarness, dm, new_ts


def click(value: str, ts: str, *, user: str = "U1", trigger: str = "trigger-1") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user, "team_id": TEAM, "username": user.lower()},
        "api_app_id": "A0001",
        "token": "legacy",
        "trigger_id": trigger,
        "container": {"type": "message", "message_ts": ts, "channel_id": "D1"},
        "channel": {"id": "D1", "name": "directmessage"},
        "actions": [
            {
                "type": "feedback_buttons",
                "action_id": "answer_feedback",
                "block_id": "feedback",
                "value": value,
                "action_ts": new_ts(),
            }
        ],
    }


def reasons_submitted(message_id: int, reasons: list[str], comment: str, *, user: str = "U1"):
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0001",
        "token": "legacy",
        "trigger_id": "trigger-2",
        "view": {
            "id": "V1",
            "team_id": TEAM,
            "type": "modal",
            "callback_id": "answer_feedback_reasons",
            "private_metadata": str(message_id),
            "state": {
                "values": {
                    "reasons": {
                        "reasons": {
                            "type": "checkboxes",
                            "selected_options": [{"value": r} for r in reasons],
                        }
                    },
                    "comment": {"comment": {"type": "plain_text_input", "value": comment}},
                }
            },
        },
    }


async def answered(slack: SlackHarness) -> tuple[int, str]:
    ts = new_ts()
    await slack.event(dm("How do I reset my password?", ts=ts))
    await slack.settle()
    [(message_id, _)] = await slack.answers()
    [message] = slack.fake.thread("D1", ts)
    return message_id, message.ts


async def test_thumbs_down_with_reasons_and_comment_is_stored(slack: SlackHarness):
    message_id, ts = await answered(slack)
    response = await slack.interaction(click(f"down:{message_id}", ts))
    assert response.status == 200
    [modal] = slack.fake.opened_views
    assert modal["callback_id"] == "answer_feedback_reasons"
    assert modal["private_metadata"] == str(message_id)

    response = await slack.interaction(
        reasons_submitted(
            message_id, ["incomplete", "missing_citations"], "It left out the MFA step."
        )
    )
    assert response.status == 200
    user = await slack.runtime.conversations.upsert_user(Person("slack", TEAM, "U1"))
    vote = await FeedbackStore(slack.runtime.db.pool).get(message_id, user.id)
    assert vote is not None
    assert (vote.rating, vote.reasons, vote.comment) == (
        -1,
        ["incomplete", "missing_citations"],
        "It left out the MFA step.",
    )


async def test_a_vote_can_be_changed_and_each_person_has_one(slack: SlackHarness):
    message_id, ts = await answered(slack)
    await slack.interaction(click(f"down:{message_id}", ts))
    await slack.interaction(click(f"up:{message_id}", ts, trigger="trigger-3"))
    await slack.interaction(click(f"up:{message_id}", ts, user="U7", trigger="trigger-4"))
    assert len(slack.fake.opened_views) == 1  # only the 👎 asks why
    async with slack.runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT u.platform_user_id, f.rating, f.reasons FROM feedback f
               JOIN users u ON u.id = f.user_id WHERE f.message_id = %s
               ORDER BY u.platform_user_id""",
            (message_id,),
        )
        assert await cur.fetchall() == [("U1", 1, []), ("U7", 1, [])]
