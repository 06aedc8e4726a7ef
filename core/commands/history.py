"""``history [words]``: the caller's conversations by day, or the ones matching their words."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from core.commands.context import CommandContext
from core.commands.help import CommandSpec
from core.commands.reply import (
    CURSOR_PREFIX,
    CommandAction,
    CommandReply,
    HistoryEntry,
    Match,
)
from core.commands.stores import PastConversation
from core.errors import SwitchboardError
from core.events import ConversationKind, ThreadRef

log = structlog.get_logger(__name__)

TODAY, YESTERDAY, WEEK, MONTH, OLDER = "Today", "Yesterday", "Last 7 days", "Last 30 days", "Older"
MATCHES = "Matches"
MAX_QUERY_CHARS = 200
_RRF_K = 60


def group_of(at: datetime, today: date, tz: ZoneInfo) -> str:
    """Which heading a conversation last active at ``at`` goes under, seen on ``today``."""
    age = (today - at.astimezone(tz).date()).days
    if age <= 0:
        return TODAY
    if age == 1:
        return YESTERDAY
    if age < 7:
        return WEEK
    if age < 30:
        return MONTH
    return OLDER


def when_text(at: datetime, now: datetime, tz: ZoneInfo) -> str:
    """``14:05`` today, ``Yesterday 14:05``, ``Mon 14:05`` this week, else ``3 Mar [2024]``."""
    local, today = at.astimezone(tz), now.astimezone(tz).date()
    age = (today - local.date()).days
    if age <= 0:
        return local.strftime("%H:%M")
    if age == 1:
        return "Yesterday " + local.strftime("%H:%M")
    if age < 7:
        return local.strftime("%a %H:%M")
    text = f"{local.day} {local.strftime('%b')}"
    return text if local.year == today.year else f"{text} {local.year}"


# A cursor is opaque to users and adapters; it only ever narrows the caller's own rows,
# so a forged one can show nothing they could not see anyway.
def encode_cursor(parts: Sequence[object]) -> str:
    raw = ":".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return raw.split(":")


def _keyset(cursor: str | None) -> tuple[datetime, int] | None:
    parts = decode_cursor(cursor)
    if not parts or len(parts) != 3 or parts[0] != "t":
        return None
    try:
        micros, ident = int(parts[1]), int(parts[2])
    except ValueError:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros), ident


def _offset(cursor: str | None) -> int:
    parts = decode_cursor(cursor)
    if not parts or len(parts) != 2 or parts[0] != "o":
        return 0
    try:
        return max(0, int(parts[1]))
    except ValueError:
        return 0


def _micros(at: datetime) -> int:
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(microseconds=1)


def _entry(
    row: PastConversation,
    ctx: CommandContext,
    *,
    group: str | None = None,
    match: Match | None = None,
) -> HistoryEntry:
    tz = ctx.tz
    kind = row.kind if row.kind in {k.value for k in ConversationKind} else ConversationKind.DM
    return HistoryEntry(
        conversation_id=row.id,
        thread=ThreadRef(
            platform=row.platform,
            workspace_id=row.workspace_id,
            channel_id=row.channel_id,
            thread_id=row.thread_id,
            kind=ConversationKind(kind),
        ),
        title=row.title or "(untitled)",
        preview=row.preview,
        at=row.last_at,
        when=when_text(row.last_at, ctx.now, tz),
        group=group or group_of(row.last_at, ctx.now.astimezone(tz).date(), tz),
        snippet=row.snippet,
        match=match,
    )


def _more(command: str, cursor: str) -> CommandAction:
    return CommandAction(label="More", command=f"{command} {CURSOR_PREFIX}{cursor}")


async def run_history(ctx: CommandContext) -> CommandReply:
    query = " ".join(ctx.request.args).strip()
    if query:
        return await _search(ctx, query[:MAX_QUERY_CHARS])
    return await _list(ctx)


async def _list(ctx: CommandContext) -> CommandReply:
    size = ctx.options.page_size
    before = _keyset(ctx.request.cursor)
    rows = await ctx.services.history.recent(ctx.scope, before=before, limit=size + 1)
    page, more = rows[:size], len(rows) > size
    if not page:
        title = "That's all your conversations" if before else "No conversations yet"
        hint = "When you ask me something, the conversation shows up here to find it later."
        sections = [] if before else [hint]
        return CommandReply(title=title, sections=sections)
    reply = CommandReply(
        title="Your conversations" + (" (continued)" if before else ""),
        entries=[_entry(row, ctx) for row in page],
    )
    if more:
        last = page[-1]
        reply.actions.append(_more("history", encode_cursor(("t", _micros(last.last_at), last.id))))
    return reply


async def _search(ctx: CommandContext, query: str) -> CommandReply:
    size = ctx.options.page_size
    offset = _offset(ctx.request.cursor)
    history = ctx.services.history
    text_rows = await history.search_text(ctx.scope, query, limit=size + 1, offset=offset)
    more = len(text_rows) > size
    text_rows = text_rows[:size]
    meaning_rows: list[PastConversation] = []
    if offset == 0 and ctx.services.embedder is not None:
        meaning_rows = await _by_meaning(ctx, query, size)
    entries = _fuse(ctx, text_rows, meaning_rows)[: max(size, len(text_rows))]
    if not entries:
        return CommandReply(
            title=f"Nothing in your conversations matches “{query}”",
            sections=["Try other words, or `history` to see your recent conversations."],
        )
    reply = CommandReply(title=f"Your conversations matching “{query}”", entries=entries)
    if more:
        args = " ".join(ctx.request.args)
        reply.actions.append(_more(f"history {args}", encode_cursor(("o", offset + size))))
    return reply


async def _by_meaning(ctx: CommandContext, query: str, size: int) -> list[PastConversation]:
    embedder = ctx.services.embedder
    assert embedder is not None
    try:
        vector = await embedder.embed_query(query)
    except SwitchboardError as exc:
        # Meaning is a bonus over full text: a model outage must not hide the text matches.
        log.warning("history_meaning_unavailable", error=str(exc))
        return []
    return await ctx.services.history.search_meaning(
        ctx.scope, vector, model=embedder.model, limit=size
    )


def _fuse(
    ctx: CommandContext, text_rows: list[PastConversation], meaning_rows: list[PastConversation]
) -> list[HistoryEntry]:
    """Reciprocal-rank fusion of the two lists, one entry per conversation; a text match
    keeps its highlighted snippet."""
    scores: dict[int, float] = {}
    best: dict[int, tuple[PastConversation, Match]] = {}
    lists: tuple[tuple[Match, list[PastConversation]], ...] = (
        ("text", text_rows),
        ("meaning", meaning_rows),
    )
    for kind, rows in lists:
        for rank, row in enumerate(rows):
            scores[row.id] = scores.get(row.id, 0.0) + 1.0 / (_RRF_K + rank)
            best.setdefault(row.id, (row, kind))
    order = sorted(scores, key=lambda ident: (-scores[ident], -best[ident][0].last_at.timestamp()))
    return [_entry(best[i][0], ctx, group=MATCHES, match=best[i][1]) for i in order]


COMMANDS = (
    CommandSpec(
        name="history",
        usage="history [words]",
        summary="your recent conversations, or the ones that mention your words",
        run=run_history,
        args=r"[^?]*",
    ),
)
