""" "Talk to a person" on Teams: the help channel's message and the channel it goes to. What a
press means is the core's (``core.handoff``); the turn handler reads the press."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from botbuilder.schema import Activity, ActivityTypes, TextFormatTypes

from bots.teams.activities import CHANNEL, GROUP_CHAT, conversation_type, tenant_id
from bots.teams.cards import WireEntity
from bots.teams.escaping import no_mentions
from bots.teams.proactive import TeamsNotifier
from core.errors import PlatformError
from core.handoff import HandoffDesk, HandoffTicket

EXCERPT_CHARS = 1500


def _quote(text: str) -> str:
    text = no_mentions(text.strip())
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - 1].rstrip() + "…"
    return "\n".join("> " + line for line in text.splitlines() or [""])


MESSAGE_LINK = "https://teams.microsoft.com/l/message/"
_THREAD_SUFFIX = ";messageid="


def conversation_link(activity: Activity) -> str | None:
    """A Teams deep link to where "Talk to a person" was pressed (the card under the answer):
    in a channel thread with its root (``parentMessageId``) and team (``groupId``, when the
    activity names it), in a group chat as a chat message. None in a personal chat: it is the
    person's own with the app, and nobody else can open it (the post's mention reaches them)."""
    kind = conversation_type(activity)
    conversation = activity.conversation.id if activity.conversation else ""
    message = activity.reply_to_id
    if not conversation or not message:
        return None
    if kind == CHANNEL:
        channel, _, root = conversation.partition(_THREAD_SUFFIX)
        params = {"tenantId": tenant_id(activity), "parentMessageId": root or message}
        data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
        group = (data.get("team") or {}).get("aadGroupId")
        if group:
            params["groupId"] = str(group)
        return f"{MESSAGE_LINK}{quote(channel, safe='')}/{message}?{urlencode(params)}"
    if kind == GROUP_CHAT:
        context = json.dumps({"contextType": "chat"}, separators=(",", ":"))
        return f"{MESSAGE_LINK}{quote(conversation, safe='')}/{message}?{urlencode({'context': context})}"
    return None


def ticket_activity(ticket: HandoffTicket) -> Activity:
    """The help channel's message: who asked (a real mention), the question, the answer."""
    s = ticket.subject
    person = ticket.person
    name = no_mentions(person.display_name or "Someone")
    mention = None
    if person.platform == "teams":
        # Teams mentions a person by their Entra object id (our user id for Teams people).
        mention = WireEntity(
            {
                "type": "mention",
                "mentioned": {"id": person.user_id, "name": name},
                "text": f"<at>{name}</at>",
            }
        )
        who = f"<at>{name}</at>"
    else:
        who = f"**{name}** ({person.platform})"
    lines = [
        f"{who} would like a person to help (answer #{s.message_id}, domain {s.domain or 'none'}).",
        "**Question**",
        _quote(s.question),
        "**Answer given**",
        _quote(s.answer),
    ]
    if ticket.link:
        lines.append(f"[Open the conversation]({ticket.link})")
    activity = Activity(
        type=ActivityTypes.message,
        text="\n\n".join(lines),
        text_format=TextFormatTypes.markdown,
    )
    if mention is not None:
        activity.entities = [mention]
    return activity


@dataclass(frozen=True, slots=True)
class TeamsHelpChannel:
    """``core.handoff.HelpChannel``: a channel conversation the bot is installed in."""

    notifier: TeamsNotifier
    conversation_id: str

    where: str = "the help desk's Teams channel"

    async def post(self, ticket: HandoffTicket) -> None:
        sent = await self.notifier.post(self.conversation_id, ticket_activity(ticket))
        if sent is None:
            raise PlatformError(
                "the bot is not in the hand-off channel (SWITCHBOARD_HANDOFF_TEAMS_CHANNEL): "
                "add the app to that team"
            )


@dataclass(frozen=True, slots=True)
class TeamsHandoff:
    """The desk and Teams' help channel (None when only the webhook is set)."""

    desk: HandoffDesk
    channel: TeamsHelpChannel | None

    @property
    def offered(self) -> bool:
        return self.desk.offered(has_channel=self.channel is not None)
