""" "Talk to a person" on Slack: the button under an answer, the help channel post, and the
note back to the person in their thread. What a press means is the core's (``core.handoff``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackClientError

from bots.slack import escaping
from bots.slack.blocks import HANDOFF_ACTION, notification
from bots.slack.calls import SlackCalls, describe
from bots.slack.events import PLATFORM, action_team_of
from bots.slack.home import thread_link
from bots.tasks import BackgroundTasks
from core.errors import PlatformError
from core.events import Person
from core.handoff import HandoffDesk, HandoffTicket
from store.conversations import PgConversationStore

log = structlog.get_logger(__name__)

EXCERPT_CHARS = 1500


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in escaping.mrkdwn(_excerpt(text)).splitlines() or [""])


def ticket_blocks(ticket: HandoffTicket) -> list[dict[str, Any]]:
    """The help channel's message: who asked (a mention), the question, the answer, a link."""
    s = ticket.subject
    who = (
        f"<@{ticket.person.user_id}>"
        if ticket.person.platform == PLATFORM
        else escaping.mrkdwn(ticket.person.display_name or ticket.person.user_id)
    )
    lines = [f"*{who} would like a person to help* (answer #{s.message_id})"]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": lines[0]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Question*\n" + _quote(s.question)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Answer given*\n" + _quote(s.answer)},
        },
    ]
    context = [f"Domain: {escaping.mrkdwn(s.domain or 'none')}"]
    if ticket.link:
        context.append(f"<{escaping.link_target(ticket.link)}|Open the thread>")
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
    )
    return blocks


@dataclass(frozen=True, slots=True)
class SlackHelpChannel:
    """``core.handoff.HelpChannel``: one Slack channel, reached with the workspace's token."""

    calls: SlackCalls
    channel: str
    team: str
    token: str | None

    @property
    def where(self) -> str:
        return f"the help channel <#{self.channel}>"

    async def post(self, ticket: HandoffTicket) -> None:
        try:
            await self.calls.api(
                self.team,
                "chat.postMessage",
                token=self.token,
                channel=self.channel,
                text=notification(f"Talk to a person: {ticket.subject.question}"),
                blocks=ticket_blocks(ticket),
                unfurl_links=False,
            )
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise PlatformError(f"Slack did not take the hand-off ({describe(exc)})") from exc


@dataclass(frozen=True, slots=True)
class HandoffContext:
    """What the "Talk to a person" listener uses. ``channel`` is the help channel's id."""

    desk: HandoffDesk
    users: PgConversationStore
    calls: SlackCalls
    tasks: BackgroundTasks
    channel: str | None


def register(app: AsyncApp, bot: HandoffContext) -> None:
    @app.action(HANDOFF_ACTION)
    async def pressed(ack: AsyncAck, body: dict, action: dict, context: AsyncBoltContext) -> None:
        await ack()
        value = str(action.get("value") or "")
        if not value.isdigit():
            return
        bot.tasks.spawn(press(bot, body, int(value), context), name="slack:handoff")


async def press(
    bot: HandoffContext, body: dict[str, Any], message_id: int, context: AsyncBoltContext
) -> None:
    team = action_team_of(body, context)
    user = body.get("user") or {}
    token = context.bot_token or context.token
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
    thread_ts = str(
        message.get("thread_ts")
        or container.get("thread_ts")
        or message.get("ts")
        or container.get("message_ts")
        or ""
    )
    person = Person(
        PLATFORM, team, str(user.get("id")), display_name=user.get("name") or user.get("username")
    )
    record = await bot.users.upsert_user(person)
    help_channel = SlackHelpChannel(bot.calls, bot.channel, team, token) if bot.channel else None

    async def tell(text: str) -> None:
        if not channel:
            return
        where: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        if channel.startswith("D"):
            # Their own DM with the app: a message in the thread stays there for them.
            await bot.calls.try_api(
                team, "chat.postMessage", token=token, channel=channel, text=text, **where
            )
        else:
            # A channel: only the person who pressed sees it.
            await bot.calls.try_api(
                team,
                "chat.postEphemeral",
                token=token,
                channel=channel,
                user=person.user_id,
                text=text,
                **where,
            )

    await bot.desk.hand_off(
        person,
        record.id,
        message_id,
        channel=help_channel,
        pressed_in=channel,
        link=thread_link(channel, thread_ts) if channel and thread_ts else None,
        tell=tell,
    )
