"""``unanswered [7d|30d]``: what people asked that the assistant declined, that got a 👎, or
that was handed to a person — grouped by meaning, most frequent first, each group with a
"Write a verified answer" form prefilled with its question."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from core.commands.answers import write_form
from core.commands.context import CommandContext
from core.commands.help import CommandSpec
from core.commands.reply import CommandAction, CommandReply, ReplyItem

Kind = Literal["declined", "disliked", "handed_off"]
KIND_LABELS: dict[str, str] = {
    "declined": "not in the documents",
    "disliked": "👎",
    "handed_off": "handed to a person",
}
MAX_DAYS = 90
MAX_GROUPS = 15
_DAYS = re.compile(r"^(\d{1,3})d?$")


@dataclass(frozen=True, slots=True)
class UnansweredQuestion:
    """One question that went unanswered, in one of three ways, at ``at``."""

    question: str
    kind: Kind
    at: datetime
    user_id: int | None = None
    domain: str | None = None
    reasons: list[str] = field(default_factory=list)
    comment: str | None = None


@dataclass(slots=True)
class UnansweredGroup:
    """Questions that mean the same. ``question`` is the most central phrasing, ``examples``
    other ways it was put; ``kinds`` counts how each went unanswered, ``reasons`` the 👎
    reasons given; ``count`` is every occurrence, ``people`` how many different askers."""

    question: str
    count: int
    people: int
    latest: datetime
    kinds: Counter[str]
    reasons: Counter[str]
    comments: list[str]
    examples: list[str]
    domain: str | None = None


class UnansweredReader(Protocol):
    """``store.unanswered.PgUnanswered``."""

    async def groups(self, since: datetime, until: datetime, *, limit: int) -> list[UnansweredGroup]:
        """The window's unanswered questions grouped by meaning, most frequent first."""
        ...


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def group_item(group: UnansweredGroup) -> ReplyItem:
    how = ", ".join(
        f"{KIND_LABELS[kind]} ×{n:,}" for kind, n in sorted(group.kinds.items(), key=lambda kv: -kv[1])
    )
    people = "person" if group.people == 1 else "people"
    lines = [
        (
            f"*{_excerpt(group.question, 200)}* — {group.count:,}× by {group.people:,} "
            f"{people}, last {group.latest:%d %b %H:%M} UTC"
        ),
        how,
    ]
    if group.reasons:
        lines.append(
            "Reasons: "
            + ", ".join(f"{r.replace('_', ' ')} ×{n}" for r, n in group.reasons.most_common())
        )
    for comment in group.comments[:2]:
        lines.append(f"“{_excerpt(comment, 200)}”")
    if group.examples:
        lines.append("Also asked as: " + "; ".join(_excerpt(e, 100) for e in group.examples[:3]))
    question = _excerpt(group.question, 500)
    return ReplyItem(
        "\n".join(lines),
        actions=(
            CommandAction(
                "Write a verified answer",
                f"answers add {question} :: ",
                style="primary",
                form=write_form(question),
            ),
        ),
    )


async def run_unanswered(ctx: CommandContext) -> CommandReply:
    reader = ctx.services.unanswered
    if reader is None:
        return CommandReply(
            title="`unanswered` is not set up here", sections=["There is no store for it."], ok=False
        )
    days = 7
    if ctx.request.args:
        match = _DAYS.match(ctx.request.args[0].lower())
        if not match or not 1 <= int(match.group(1)) <= MAX_DAYS:
            return CommandReply(
                title="Which period?",
                sections=[f"Use `unanswered 7d` or `unanswered 30d` (up to {MAX_DAYS}d)."],
                ok=False,
            )
        days = int(match.group(1))
    groups = await reader.groups(ctx.now - timedelta(days=days), ctx.now, limit=MAX_GROUPS)
    ctx.audit_details.update(days=days, groups=len(groups))
    if not groups:
        return CommandReply(
            title=f"Nothing went unanswered in the last {days} days",
            sections=["No question was declined, disliked or handed to a person."],
        )
    total = sum(g.count for g in groups)
    return CommandReply(
        title=f"Unanswered in the last {days} days",
        sections=[
            (
                f"{total:,} questions in {len(groups)} groups, most frequent first. "
                "A verified answer answers a whole group from now on."
            )
        ],
        items=[group_item(g) for g in groups],
    )


COMMANDS = (
    CommandSpec(
        "unanswered",
        "unanswered [7d|30d]",
        "questions declined, disliked or handed to a person, grouped, to answer once",
        run_unanswered,
        admin=True,
        args=r"(\d{1,3}d?)?",
    ),
)
