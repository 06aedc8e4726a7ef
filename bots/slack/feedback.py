"""👍/👎 under answers: a click is stored at once; a 👎 opens a form asking what was wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from bots.slack.blocks import FEEDBACK_ACTION, parse_feedback_value
from bots.slack.calls import SlackCalls
from bots.slack.events import PLATFORM, action_team_of
from core.events import Person
from store.conversations import PgConversationStore
from store.feedback import FeedbackStore

log = structlog.get_logger(__name__)

REASONS_VIEW = "answer_feedback_reasons"
REASON_LABELS = {
    "inaccurate": "Inaccurate",
    "incomplete": "Incomplete",
    "not_relevant": "Not relevant",
    "missing_citations": "Missing citations",
    "other": "Other",
}


def reasons_modal(message_id: int) -> dict[str, Any]:
    """What was wrong with answer ``message_id``: reasons to tick and a comment."""
    return {
        "type": "modal",
        "callback_id": REASONS_VIEW,
        "private_metadata": str(message_id),
        "title": {"type": "plain_text", "text": "What went wrong?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reasons",
                "optional": True,
                "label": {"type": "plain_text", "text": "The answer was…"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "reasons",
                    "options": [
                        {"text": {"type": "plain_text", "text": label}, "value": value}
                        for value, label in REASON_LABELS.items()
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": {"type": "plain_text", "text": "Anything else?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "comment",
                    "multiline": True,
                    "max_length": 3000,
                    "placeholder": {
                        "type": "plain_text",
                        "text": "What should the answer have said?",
                    },
                },
            },
        ],
    }


def read_reasons(view: dict[str, Any]) -> tuple[list[str], str | None]:
    values = (view.get("state") or {}).get("values") or {}
    ticked = ((values.get("reasons") or {}).get("reasons") or {}).get("selected_options") or []
    comment = ((values.get("comment") or {}).get("comment") or {}).get("value")
    return [str(o.get("value")) for o in ticked], comment


@dataclass(frozen=True, slots=True)
class FeedbackContext:
    """What the 👍/👎 listeners use."""

    users: PgConversationStore
    feedback: FeedbackStore
    calls: SlackCalls


def register(app: AsyncApp, bot: FeedbackContext) -> None:
    @app.action(FEEDBACK_ACTION)
    async def clicked(ack: AsyncAck, body: dict, action: dict, context: AsyncBoltContext) -> None:
        await ack()
        parsed = parse_feedback_value(str(action.get("value") or ""))
        if parsed is None:
            return
        rating, message_id = parsed
        team = action_team_of(body, context)
        person = Person(PLATFORM, team, str((body.get("user") or {}).get("id")))
        user = await bot.users.upsert_user(person)
        stored = await bot.feedback.record(message_id=message_id, user_id=user.id, rating=rating)
        log.info("slack_feedback", message_id=message_id, rating=rating, stored=stored)
        if stored and rating < 0 and body.get("trigger_id"):
            # The trigger expires three seconds after the click: open the modal now.
            await bot.calls.try_api(
                team,
                "views.open",
                token=context.bot_token or context.token,
                trigger_id=body["trigger_id"],
                view=reasons_modal(message_id),
            )

    @app.view(REASONS_VIEW)
    async def explained(ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext) -> None:
        await ack()
        metadata = str(view.get("private_metadata") or "")
        if not metadata.isdigit():
            return
        reasons, comment = read_reasons(view)
        person = Person(PLATFORM, action_team_of(body, context), str((body.get("user") or {}).get("id")))
        user = await bot.users.upsert_user(person)
        await bot.feedback.record(
            message_id=int(metadata), user_id=user.id, rating=-1, reasons=reasons, comment=comment
        )
