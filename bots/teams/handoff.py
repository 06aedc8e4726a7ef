""" "Talk to a person" on Teams: the help channel's message and the channel it goes to. What a
press means is the core's (``core.handoff``); the turn handler reads the press."""

from __future__ import annotations

from dataclasses import dataclass

from botbuilder.schema import Activity, ActivityTypes, TextFormatTypes

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
