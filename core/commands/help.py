"""What each command is called and who may use it, and the ``help`` text built from that."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.commands.reply import CommandReply

if TYPE_CHECKING:
    from core.commands.context import CommandContext

ABOUT = (
    "Ask me anything about HR, IT or company policies — in a DM, by mentioning me in a "
    "channel, or in a thread I'm already in. I answer from the company's documents and cite "
    "them, and I remember the thread so you can ask follow-ups."
)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: its name, how to call it, one line about it, and who may run it.

    ``audited`` commands leave an audit line even for non-admins (``forget-me``, ``export``);
    admin commands always do. ``args`` is a regular expression the arguments must match for a
    plain chat message ("stats 30d", not "stats for my team?") to be taken as this command.
    """

    name: str
    usage: str
    summary: str
    run: Callable[[CommandContext], Awaitable[CommandReply]]
    admin: bool = False
    audited: bool = False
    aliases: tuple[str, ...] = ()
    args: str = ""


def _lines(specs: Sequence[CommandSpec]) -> str:
    return "\n".join(f"• `{spec.usage}` — {spec.summary}" for spec in specs)


def help_reply(specs: Sequence[CommandSpec], *, is_admin: bool) -> CommandReply:
    """Everyone sees what the assistant does and the user commands; admins also the rest."""
    mine = [s for s in specs if not s.admin]
    sections = [ABOUT, "Commands:\n• `help` — this message\n" + _lines(mine)]
    if is_admin:
        sections.append("Admin commands:\n" + _lines([s for s in specs if s.admin]))
    return CommandReply(title="Here's what I can do", sections=sections)


def unknown_reply(
    name: str, specs: Sequence[CommandSpec], *, is_admin: bool, exists: bool = False
) -> CommandReply:
    """The help text, headed by why ``name`` did not run (unknown, or not set up here)."""
    reply = help_reply(specs, is_admin=is_admin)
    reply.title = (
        f"“{name}” isn't available here." if exists else f"I don't know the command “{name}”."
    )
    reply.ok = False
    return reply
