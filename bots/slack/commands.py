"""``/assistant …``: parsed into a CommandRequest, run by the core, rendered as Block Kit.

The command is acknowledged at once; the core runs after the ack and the reply goes back
through the command's ``response_url`` (private unless the reply says otherwise). Buttons in a
reply ("More", "Confirm") send their command through the same path. A file (``export``) is
uploaded to the person's DM with the app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackClientError

from bots.slack import escaping
from bots.slack.blocks import MAX_BLOCKS, SECTION_CHARS, Block, notification, split
from bots.slack.calls import SlackCalls, describe
from bots.slack.events import PLATFORM, plain_text
from bots.slack.forms import FORM_ACTION, FORM_VIEW, button_value, modal, read_button, submitted
from bots.slack.home import thread_link
from bots.slack.timezones import Timezones
from bots.tasks import BackgroundTasks
from core.commands import CommandHandler, CommandReply, CommandRequest
from core.commands.reply import CommandAction
from core.errors import PlatformError
from core.events import ConversationKind, Person, ThreadRef

log = structlog.get_logger(__name__)

COMMAND = "/assistant"
ACTION = re.compile(r"^assistant_command(:\d+)?$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")


def to_mrkdwn(markdown: str) -> str:
    """CommonMark the core writes (``**bold**``, ``[text](url)``) as Slack's mrkdwn. What people
    wrote (questions, titles, comments, names) is escaped first: it shows as written and can
    never ping anyone."""
    text = _BOLD.sub(r"*\1*", escaping.mrkdwn(markdown))
    return _LINK.sub(r"<\2|\1>", text)


def _section(text: str) -> list[Block]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
        for piece in split(to_mrkdwn(text), SECTION_CHARS)
        if piece.strip()
    ]


def button(action: CommandAction, n: int) -> Block:
    """A reply's button: it sends its command, or opens its form (a modal) when it has one."""
    if action.form is not None:
        action_id, value = f"assistant_form:{n}", button_value(action.form)
    else:
        action_id, value = f"assistant_command:{n}", action.command[:2000]
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": action.label[:75]},
        "value": value,
        **({"style": action.style} if action.style != "default" else {}),
    }


def item_blocks(reply: CommandReply, first: int, room: int) -> list[Block]:
    """Items with buttons of their own: a section each, its buttons under it, as many whole
    items as ``room`` blocks hold; a last line says how many more there are."""
    blocks: list[Block] = []
    n = first
    for shown, item in enumerate(reply.items):
        one = _section(item.text)
        if item.actions:
            elements = [button(a, n + i) for i, a in enumerate(item.actions[:25])]
            one.append({"type": "actions", "elements": elements})
            n += len(item.actions)
        if len(blocks) + len(one) > room - 1:
            left = len(reply.items) - shown
            note = f"{left} more not shown here: Slack shows 50 blocks a message."
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
            break
        blocks.extend(one)
    return blocks


def reply_blocks(reply: CommandReply) -> list[Block]:
    """A command's reply: title, sections, facts, history entries by day, buttons."""
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escaping.mrkdwn(reply.title)}*"}}
    ]
    for section in reply.sections:
        blocks.extend(_section(section))
    facts = [f"*{f.label}*\n{to_mrkdwn(f.value)}"[:2000] for f in reply.facts]
    for start in range(0, len(facts), 10):
        blocks.append(
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": text} for text in facts[start : start + 10]],
            }
        )
    group: str | None = None
    lines: list[str] = []
    for entry in reply.entries:
        if entry.group != group:
            if lines:
                blocks.extend(_section("\n".join(lines)))
            group, lines = entry.group, [f"*{entry.group}*"]
        title = (" ".join(entry.title.split()) or "Untitled")[:80]
        title = title.replace("[", "(").replace("]", ")")  # it is a link's label below
        detail = entry.snippet or entry.preview
        suffix = f" — {detail}" if detail else ""
        if entry.thread.platform != PLATFORM:
            # Asked on another platform (one person across platforms): no Slack link to it.
            lines.append(f"• {title} ({entry.thread.platform}) _{entry.when}_{suffix}")
            continue
        link = thread_link(entry.thread.channel_id, entry.thread.thread_id)
        # Written as Markdown: _section escapes the words, then makes the link Slack's.
        lines.append(f"• [{title}]({link}) _{entry.when}_{suffix}")
    if lines:
        blocks.extend(_section("\n".join(lines)))
    if reply.actions:
        blocks.append(
            {
                "type": "actions",
                "elements": [button(action, n) for n, action in enumerate(reply.actions[:25])],
            }
        )
    # Items after the reply's own buttons, keeping the closing note (a file) in the room left.
    room = MAX_BLOCKS - len(blocks) - (1 if reply.file_name else 0)
    blocks.extend(item_blocks(reply, len(reply.actions), room))
    if reply.file_name:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"`{reply.file_name}` is in your DM with me."}
                ],
            }
        )
    return blocks[:MAX_BLOCKS]


def command_request(
    team: str, user: str, user_name: str | None, channel: str, text: str
) -> CommandRequest:
    mentioned = tuple(m.group(1) for m in _MENTION.finditer(text))
    kind = ConversationKind.DM if channel.startswith("D") else ConversationKind.CHANNEL
    return CommandRequest.parse(
        Person(PLATFORM, team, user, display_name=user_name),
        ThreadRef(PLATFORM, team, channel, "", kind=kind),
        plain_text(text, None),
        mentions=mentioned,
    )


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What ``/assistant`` and its buttons use."""

    calls: SlackCalls
    tasks: BackgroundTasks
    commands: CommandHandler
    timezones: Timezones


def register(app: AsyncApp, bot: CommandContext) -> None:
    @app.command(COMMAND)
    async def command(
        ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        await ack()
        request = command_request(
            str(context.team_id or body.get("team_id")),
            str(body.get("user_id")),
            body.get("user_name"),
            str(body.get("channel_id")),
            str(body.get("text") or ""),
        )
        bot.tasks.spawn(run(bot, request, respond, context), name="slack:command")

    @app.action(ACTION)
    async def pressed(
        ack: AsyncAck, body: dict, action: dict, respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        await ack()
        user = body.get("user") or {}
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id", ""
        )
        request = command_request(
            str(context.team_id or user.get("team_id")),
            str(user.get("id")),
            user.get("username"),
            str(channel),
            str(action.get("value") or "help"),
        )
        bot.tasks.spawn(run(bot, request, respond, context), name="slack:command")

    register_forms(app, bot)


def _channel_of(body: dict[str, Any]) -> str:
    return str(
        (body.get("channel") or {}).get("id")
        or (body.get("container") or {}).get("channel_id")
        or ""
    )


def register_forms(app: AsyncApp, bot: CommandContext) -> None:
    @app.action(FORM_ACTION)
    async def opened(ack: AsyncAck, body: dict, action: dict, context: AsyncBoltContext) -> None:
        await ack()
        form = read_button(str(action.get("value") or ""))
        trigger = body.get("trigger_id")
        if form is None or not trigger:
            return
        user = body.get("user") or {}
        # The trigger expires three seconds after the press: open the modal now.
        await bot.calls.try_api(
            str(context.team_id or user.get("team_id")),
            "views.open",
            token=context.bot_token or context.token,
            trigger_id=trigger,
            view=modal(form, _channel_of(body)),
        )

    @app.view(FORM_VIEW)
    async def sent(ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext) -> None:
        await ack()
        found = submitted(view)
        if found is None:
            return
        text, channel = found
        user = body.get("user") or {}
        request = command_request(
            str(context.team_id or user.get("team_id")),
            str(user.get("id")),
            user.get("username") or user.get("name"),
            channel,
            text,
        )
        bot.tasks.spawn(run_submitted(bot, request, context), name="slack:form")


async def run_submitted(
    bot: CommandContext, request: CommandRequest, context: AsyncBoltContext
) -> None:
    """A form's command: there is no response_url after a modal, so the reply is posted to
    the person where they pressed the button (only they see it in a channel)."""
    token = context.bot_token or context.token
    reply = await bot.commands.handle(request)
    assert request.thread is not None
    team, channel = request.person.workspace_id, request.thread.channel_id
    message = {"text": notification(reply.text), "blocks": reply_blocks(reply)}
    if not channel or channel.startswith("D"):
        opened = await bot.calls.try_api(
            team, "conversations.open", token=token, users=request.person.user_id
        )
        channel = channel or str(((opened or {}).get("channel") or {}).get("id") or "")
        await bot.calls.try_api(team, "chat.postMessage", token=token, channel=channel, **message)
        return
    await bot.calls.try_api(
        team,
        "chat.postEphemeral",
        token=token,
        channel=channel,
        user=request.person.user_id,
        **message,
    )


async def run(
    bot: CommandContext, request: CommandRequest, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    async def progress(line: str) -> None:
        await respond(text=line, response_type="ephemeral", replace_original=False)

    token = context.bot_token or context.token
    # "Today" in history is the person's today: their profile's zone, when Slack tells it.
    await bot.timezones.of(request.person.workspace_id, token, request.person.user_id)
    zone = bot.timezones.name(request.person.workspace_id, request.person.user_id)
    if zone:
        request = replace(request, timezone=zone)

    async def deliver(name: str, content: bytes, _type: str | None) -> None:
        await upload(bot, request.person, token, name, content)

    reply = await bot.commands.handle(request, progress=progress, deliver=deliver)
    await respond(
        text=notification(reply.text),
        blocks=reply_blocks(reply),
        response_type="ephemeral" if reply.private else "in_channel",
        replace_original=False,
    )


async def upload(
    bot: CommandContext, person: Person, token: str | None, name: str, content: bytes
) -> None:
    """Put a file in the person's DM with the app (files.uploadV2); raises ``PlatformError``
    when Slack would not take it."""
    team = person.workspace_id
    try:
        opened = await bot.calls.api(team, "conversations.open", token=token, users=person.user_id)
        channel = str((opened.get("channel") or {}).get("id"))

        async def send() -> Any:
            return await bot.calls.client.files_upload_v2(
                channel=channel, content=content, filename=name, title=name, token=token
            )

        await bot.calls.paced(team, "files.getUploadURLExternal", send)
    except (SlackClientError, OSError, TimeoutError) as exc:
        log.warning("slack_upload_failed", error=describe(exc))
        raise PlatformError(f"Slack did not take the upload ({describe(exc)})") from exc
