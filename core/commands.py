"""Slash and chat commands (``/assistant help``…): the seam every adapter calls.

Adapters parse their platform's command into a ``CommandRequest`` and render the
``CommandReply`` in their own format (Block Kit, Adaptive Cards, plain text).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.events import Person, ThreadRef


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """``/assistant <name> <args>`` from ``person`` in ``thread``."""

    person: Person
    thread: ThreadRef | None
    name: str
    args: tuple[str, ...] = ()

    @classmethod
    def parse(cls, person: Person, thread: ThreadRef | None, text: str) -> CommandRequest:
        words = text.split()
        name = words[0].lower() if words else "help"
        return cls(person=person, thread=thread, name=name, args=tuple(words[1:]))


@dataclass(slots=True)
class CommandReply:
    """What to show: a title, paragraphs of Markdown, and an optional file to hand over."""

    title: str
    sections: list[str] = field(default_factory=list)
    ok: bool = True
    file_name: str | None = None
    file_content: bytes | None = None

    @property
    def text(self) -> str:
        return "\n\n".join([f"*{self.title}*", *self.sections])


HELP_SECTIONS = [
    "Ask me anything about HR, IT or company policies — in a DM, by mentioning me in a "
    "channel, or in a thread I'm already in. I answer from the company's documents and cite them.",
    "Commands:\n"
    "• `help` — this message\n"
    "• `history [words]` — your recent conversations, or search them\n"
    "• `forget-me` — delete your conversations and feedback\n"
    "• `export` — a file with all your data",
]


class CommandHandler:
    """Answers commands. Unknown commands get the help text."""

    async def handle(self, request: CommandRequest) -> CommandReply:
        if request.name != "help":
            return CommandReply(
                title=f"I don't know the command “{request.name}”.",
                sections=list(HELP_SECTIONS),
                ok=False,
            )
        return CommandReply(title="Here's what I can do", sections=list(HELP_SECTIONS))
