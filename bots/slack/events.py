"""Slack events in, core ChatEvents out: who asked, where, and what, in platform-neutral terms.

Answered: DMs (``message.im``), ``app_mention`` in channels (answered in a thread under the
mention), replies in a thread the bot already answered (no new mention needed), and the agent
pane (the app's DM threads). Ignored: the bot's own messages (bolt drops them), edits, deletions
and other subtypes, other bots unless ``SLACK_ANSWER_BOTS`` is on, and channel messages that
mention the bot (their ``app_mention`` twin is the one answered).
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bots.slack.target import ReplyTarget
from bots.slack.threads import AnsweredThreads
from core.events import Attachment, ChatEvent, ConversationKind, Person, ThreadRef

PLATFORM = "slack"
# Message subtypes that are a person saying something new.
SAID = {None, "file_share", "thread_broadcast"}

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>")
_GROUP = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^|>]+)(?:\|([^>]*))?>")


def plain_text(text: str, bot_user_id: str | None) -> str:
    """Slack's markup as a person reads it, with mentions of the bot removed."""

    def user(match: re.Match[str]) -> str:
        return "" if match.group(1) == bot_user_id else f"@{match.group(1)}"

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        return f"{label} ({url})" if label and label != url else url

    text = _USER.sub(user, text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _GROUP.sub(lambda m: m.group(1) or "@group", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = _LINK.sub(link, text)
    text = html.unescape(text)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(lines).strip()


def mentions(text: str, user_id: str | None) -> bool:
    return bool(user_id) and any(m.group(1) == user_id for m in _USER.finditer(text))


def from_a_bot(event: Mapping[str, Any]) -> bool:
    return bool(event.get("bot_id")) or event.get("subtype") == "bot_message"


@dataclass(frozen=True, slots=True)
class Question:
    """A question to answer: the core's event, where the answer goes, and its inbox key."""

    event: ChatEvent
    target: ReplyTarget
    event_key: str | None


def message_key(body: Mapping[str, Any], event: Mapping[str, Any], team_id: str) -> str | None:
    """The message itself, whatever delivery carries it: Slack sends one message under two
    event ids when it reaches the app through two subscriptions, or when an Enterprise Grid
    org delivers it to more than one installation (hence the org id before the workspace)."""
    channel, ts = event.get("channel"), event.get("ts")
    if not channel or not ts:
        return None
    workspace = body.get("enterprise_id") or team_id
    return f"slack:{workspace}:{channel}:{ts}"


def to_question(
    body: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    team_id: str,
    bot_user_id: str | None,
    token: str | None,
    kind: ConversationKind,
) -> Question:
    """Translate one message or mention. The reply goes in the message's thread, or starts one
    under it: one Slack thread is one conversation."""
    channel = str(event.get("channel"))
    thread_ts = str(event.get("thread_ts") or event.get("ts"))
    user_id = str(event.get("user") or event.get("bot_id") or "")
    user_team = str(event.get("user_team") or event.get("team") or team_id)
    files = tuple(
        Attachment(
            name=str(f.get("name") or f.get("title") or "file"),
            url=f.get("url_private"),
            mime_type=f.get("mimetype"),
            size=f.get("size"),
        )
        for f in event.get("files") or ()
    )
    chat_event = ChatEvent(
        person=Person(platform=PLATFORM, workspace_id=team_id, user_id=user_id),
        thread=ThreadRef(
            platform=PLATFORM,
            workspace_id=team_id,
            channel_id=channel,
            thread_id=thread_ts,
            kind=kind,
        ),
        text=plain_text(str(event.get("text") or ""), bot_user_id),
        event_key=str(body.get("event_id")) if body.get("event_id") else None,
        message_key=message_key(body, event, team_id),
        attachments=files,
        extras=MappingProxyType(
            {
                "ts": event.get("ts"),
                "channel_type": event.get("channel_type"),
                "enterprise_id": body.get("enterprise_id"),
            }
        ),
    )
    target = ReplyTarget(
        team_id=team_id,
        token=token,
        channel=channel,
        thread_ts=thread_ts,
        user_id=user_id,
        user_team_id=user_team,
        assistant_thread=kind in (ConversationKind.DM, ConversationKind.ASSISTANT),
    )
    return Question(event=chat_event, target=target, event_key=chat_event.event_key)


def team_of(body: Mapping[str, Any], context: AsyncBoltContext) -> str:
    return str(context.team_id or body.get("team_id") or context.enterprise_id or "")


def action_team_of(body: Mapping[str, Any], context: AsyncBoltContext) -> str:
    """The workspace of a button press or a modal submission (its payload nests the team)."""
    return str(
        context.team_id
        or (body.get("team") or {}).get("id")
        or (body.get("user") or {}).get("team_id")
        or ""
    )


@dataclass(frozen=True, slots=True)
class QuestionContext:
    """What the question listeners use: whether other bots are answered, the threads we are
    in, and where a translated question goes (recorded once, answered after the ack)."""

    answer_bots: bool
    threads: AnsweredThreads
    take: Callable[[Question, Mapping[str, Any]], Awaitable[None]]


def register(app: AsyncApp, bot: QuestionContext) -> None:
    """Listen for the events that carry questions."""

    def question(
        body: dict, event: dict, context: AsyncBoltContext, kind: ConversationKind
    ) -> Question:
        return to_question(
            body,
            event,
            team_id=team_of(body, context),
            bot_user_id=context.bot_user_id,
            token=context.bot_token or context.token,
            kind=kind,
        )

    @app.event("app_mention")
    async def mentioned(body: dict, event: dict, context: AsyncBoltContext) -> None:
        if event.get("edited") or (from_a_bot(event) and not bot.answer_bots):
            return
        await bot.take(question(body, event, context, ConversationKind.CHANNEL), body)

    @app.event("message")
    async def message(body: dict, event: dict, context: AsyncBoltContext) -> None:
        if event.get("subtype") not in SAID or event.get("hidden"):
            return  # edits, deletions, joins…
        if from_a_bot(event) and not bot.answer_bots:
            return
        channel_type = event.get("channel_type")
        if channel_type == "im":
            # A top-level DM, or a thread in the app's DM (the agent pane).
            kind = ConversationKind.ASSISTANT if event.get("thread_ts") else ConversationKind.DM
            await bot.take(question(body, event, context, kind), body)
            return
        thread_ts = event.get("thread_ts")
        if not thread_ts or mentions(str(event.get("text") or ""), context.bot_user_id):
            return  # not in a thread, or an app_mention that is answered as such
        team = team_of(body, context)
        if not await bot.threads.answered(team, str(event.get("channel")), str(thread_ts)):
            return
        kind = ConversationKind.GROUP if channel_type == "mpim" else ConversationKind.CHANNEL
        await bot.take(question(body, event, context, kind), body)

    @app.event("assistant_thread_context_changed")
    async def context_changed() -> None:
        return  # nothing to do: the pane's context is not used for answers
