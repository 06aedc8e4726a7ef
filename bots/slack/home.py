"""App Home (recent conversations by day, this week's prompts) and the pane's suggested prompts.

``app_home_opened`` on the Home tab publishes the user's view; on the Messages tab (the agent
pane) it sets up to four suggested prompts — without ``thread_ts``, as agent-view apps must
(with it the call silently does nothing). ``assistant_thread_started`` (the older assistant
view) gets them in its thread. Both run after the ack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bots.slack import escaping
from bots.slack.blocks import SECTION_CHARS, Block
from bots.slack.calls import SlackCalls
from bots.slack.events import PLATFORM, team_of
from bots.slack.timezones import Timezones
from bots.tasks import BackgroundTasks
from core.commands.history import group_of, when_text
from core.commands.stores import HistoryScope, PastConversation
from core.events import Person
from store.conversations import PgConversationStore
from store.history import PgHistoryStore
from store.prompts import PromptStore

log = structlog.get_logger(__name__)

PANE_PROMPTS = 4
HOME_PROMPTS = 9
HOME_CONVERSATIONS = 40
NO_CONVERSATIONS = "No conversations yet — ask me anything."
GROUPS = ("Today", "Yesterday", "Last 7 days", "Last 30 days", "Older")


def thread_link(channel: str, thread_ts: str) -> str:
    """A link that opens the thread in the user's own workspace."""
    return (
        f"https://slack.com/archives/{channel}/p{thread_ts.replace('.', '')}"
        f"?thread_ts={thread_ts}&cid={channel}"
    )


def _mrkdwn_text(text: str) -> str:
    flat = " ".join(text.split()) or "Untitled"
    return escaping.mrkdwn(flat if len(flat) <= 80 else flat[:79].rstrip() + "…")


def _sections(heading: str, lines: Sequence[str]) -> list[Block]:
    blocks: list[Block] = []
    current = f"*{heading}*"
    for line in lines:
        if len(current) + 1 + len(line) > SECTION_CHARS:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": current}})
            current = line
        else:
            current += "\n" + line
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": current}})
    return blocks


def home_view(
    conversations: Sequence[PastConversation],
    prompts: Sequence[str],
    *,
    now: datetime,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """The Home tab: recent conversations under Today / Yesterday / Last 7 days / Last 30 days /
    Older, each linking to its thread, then this week's suggested prompts."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your assistant"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "Ask about HR, IT or company policy in the *Messages* tab, by mentioning "
                "me in a channel, or with `/assistant help`. I answer from the company's "
                "documents and cite them.",
            },
        },
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "Recent conversations"}},
    ]
    grouped: dict[str, list[str]] = {group: [] for group in GROUPS}
    today = now.astimezone(tz).date()
    for c in conversations:
        group = group_of(c.last_at, today, tz)
        link = thread_link(c.channel_id, c.thread_id)
        grouped.setdefault(group, []).append(
            f"• <{link}|{_mrkdwn_text(c.title)}>  _{when_text(c.last_at, now, tz)}_"
        )
    shown = False
    for group, lines in grouped.items():
        if lines:
            blocks.extend(_sections(group, lines))
            shown = True
    if not shown:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": NO_CONVERSATIONS}],
            }
        )
    if prompts:
        blocks.append({"type": "divider"})
        blocks.append(
            {"type": "header", "text": {"type": "plain_text", "text": "Popular this week"}}
        )
        lines = [f"{n}. {_mrkdwn_text(p)}" for n, p in enumerate(prompts[:HOME_PROMPTS], 1)]
        blocks.extend(_sections("Try asking", lines))
    return {"type": "home", "blocks": blocks[:100]}


def prompt_buttons(prompts: Sequence[str]) -> list[dict[str, str]]:
    """Suggested prompts as the pane shows them: a short title, the full question sent."""
    return [
        {"title": p if len(p) <= 60 else p[:59].rstrip() + "…", "message": p}
        for p in prompts[:PANE_PROMPTS]
    ]


@dataclass(frozen=True, slots=True)
class HomeContext:
    """What App Home and the pane's prompts use."""

    calls: SlackCalls
    tasks: BackgroundTasks
    users: PgConversationStore
    history: PgHistoryStore
    prompts: PromptStore
    timezones: Timezones


def register(app: AsyncApp, bot: HomeContext) -> None:
    @app.event("app_home_opened")
    async def opened(body: dict, event: dict, context: AsyncBoltContext) -> None:
        team = team_of(body, context)
        token = context.bot_token or context.token
        user = str(event.get("user"))
        if event.get("tab") == "messages":
            bot.tasks.spawn(
                suggest(bot, team, token, str(event.get("channel")), None), name="slack:prompts"
            )
        else:
            bot.tasks.spawn(publish_home(bot, team, token, user), name="slack:home")

    @app.event("assistant_thread_started")
    async def thread_started(body: dict, event: dict, context: AsyncBoltContext) -> None:
        thread = event.get("assistant_thread") or {}
        bot.tasks.spawn(
            suggest(
                bot,
                team_of(body, context),
                context.bot_token or context.token,
                str(thread.get("channel_id")),
                str(thread.get("thread_ts")),
            ),
            name="slack:prompts",
        )


async def suggest(
    bot: HomeContext, team: str, token: str | None, channel: str, thread_ts: str | None
) -> None:
    prompts = await bot.prompts.current(PANE_PROMPTS)
    if not prompts:
        return
    await bot.calls.try_api(
        team,
        "assistant.threads.setSuggestedPrompts",
        token=token,
        channel_id=channel,
        thread_ts=thread_ts,
        title="Try asking",
        prompts=prompt_buttons(prompts),
    )


async def publish_home(bot: HomeContext, team: str, token: str | None, user: str) -> None:
    record = await bot.users.upsert_user(Person(PLATFORM, team, user))
    scope = HistoryScope(user_id=record.id, platform=PLATFORM, workspace_id=team)
    conversations = await bot.history.recent(scope, before=None, limit=HOME_CONVERSATIONS)
    prompts = await bot.prompts.current(HOME_PROMPTS)
    tz = await bot.timezones.of(team, token, user)
    view = home_view(conversations, prompts, now=datetime.now(UTC), tz=tz)
    await bot.calls.try_api(team, "views.publish", token=token, user_id=user, view=view)
