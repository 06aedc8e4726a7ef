"""What an adapter hands the core (``CommandRequest``) and what it renders (``CommandReply``).

A reply is platform-neutral: a title, Markdown sections, and structured parts an adapter turns
into its own widgets — history entries (with the thread to link to), facts (label/value pairs),
buttons that send another command, and a file to upload. ``CommandReply.text`` renders it all
as plain Markdown for adapters (or tests) that want one string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from core.events import Person, ThreadRef

CURSOR_PREFIX = "cursor:"
# Chat clients wrap what users type: Slack sends <@U123|name>, <mailto:a@b|a@b> and
# <https://x|x>. Commands read the id, address or link inside.
_AFTER_NAME = re.compile(r"^\s*\S+[ \t]*")
_WRAPPED = re.compile(r"^<(?:@|mailto:)?([^|>]+)(?:\|[^>]*)?>$")


def unwrap(token: str) -> str:
    """``<@U123|bob>`` → ``U123``, ``<mailto:a@b.c|a@b.c>`` → ``a@b.c``, ``<https://x|x>`` →
    ``https://x``; ``@U123`` → ``U123``; anything else unchanged."""
    match = _WRAPPED.match(token.strip())
    if match:
        return match.group(1)
    return token.strip().lstrip("@")


#: How a search hit matched: by its words, or by the meaning of its summary.
Match = Literal["text", "meaning"]


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """``/assistant <name> <args>`` from ``person``, issued in ``thread`` (None when unknown).

    ``thread`` is where the command was typed: a Slack slash command in a channel gives that
    channel with an empty ``thread_id``. It decides which shared-channel conversations history
    may show. ``mentions`` are the platform user ids the adapter resolved from @-mentions, in
    order; ``timezone`` is the caller's IANA zone when the platform says (history's "Today").
    ``cursor`` asks for the next page of a list (see ``CommandAction``). ``text`` is what
    followed the command's name, exactly as typed (line breaks kept), for commands that take
    free text (``answers add <question> :: <answer>``).
    """

    person: Person
    thread: ThreadRef | None
    name: str
    args: tuple[str, ...] = ()
    cursor: str | None = None
    mentions: tuple[str, ...] = ()
    timezone: str | None = None
    text: str = ""
    # Platform leftovers for the platform's own identity lookup (``core.identity``).
    extras: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        person: Person,
        thread: ThreadRef | None,
        text: str,
        *,
        mentions: tuple[str, ...] = (),
        timezone: str | None = None,
    ) -> CommandRequest:
        """``"history vpn cursor:abc"`` → name ``history``, args ``("vpn",)``, cursor ``abc``."""
        words = text.split()
        cursor = None
        args: list[str] = []
        for word in words[1:]:
            if word.startswith(CURSOR_PREFIX):
                cursor = word[len(CURSOR_PREFIX) :] or None
            else:
                args.append(word)
        name = words[0].lower().lstrip("/") if words else "help"
        return cls(
            person=person,
            thread=thread,
            name=name or "help",
            args=tuple(args),
            cursor=cursor,
            mentions=mentions,
            timezone=timezone,
            text=_AFTER_NAME.sub("", text, count=1).strip(),
        )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One past conversation as history shows it.

    ``thread`` has what a permalink needs (platform, workspace, channel, thread id). ``group``
    is its heading (Today, Yesterday, Last 7 days, Last 30 days, Older); entries come newest
    first, so a heading starts wherever ``group`` changes. ``when`` is ``at`` already written
    in the caller's timezone. A search hit has a ``snippet`` whose matched words are wrapped in
    ``**`` (CommonMark bold), and ``match`` says whether it matched by ``text`` or ``meaning``.
    """

    conversation_id: int
    thread: ThreadRef
    title: str
    preview: str
    at: datetime
    when: str
    group: str
    snippet: str | None = None
    match: Match | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """A label and its value, shown as a two-column list (Block Kit fields, a FactSet)."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of a form: its name in ``CommandForm.template``, a label, a prefilled value."""

    name: str
    label: str
    value: str = ""
    multiline: bool = False
    optional: bool = False


@dataclass(frozen=True, slots=True)
class CommandForm:
    """A form to fill before a command runs (a Slack modal, an Adaptive Card with inputs).

    On submit the adapter sends ``form.command(values)`` — the template with each field's
    value put in its place — for the person who submitted it.
    """

    title: str
    fields: tuple[FormField, ...]
    template: str
    submit: str = "Save"

    def command(self, values: dict[str, str]) -> str:
        text = self.template
        for f in self.fields:
            text = text.replace("{" + f.name + "}", (values.get(f.name) or "").strip())
        return text.strip()


@dataclass(frozen=True, slots=True)
class CommandAction:
    """A button. When pressed, the adapter sends ``CommandRequest.parse(person, thread,
    command)`` for the person who pressed it — e.g. ``"history cursor:…"`` for "More". With a
    ``form``, pressing it opens the form instead, and submitting the form sends its command."""

    label: str
    command: str
    style: Literal["default", "primary", "danger"] = "default"
    form: CommandForm | None = None


@dataclass(frozen=True, slots=True)
class ReplyItem:
    """One item of a list that has buttons of its own (a Block Kit section with a button, a
    Container with an ActionSet): Markdown ``text`` and its ``actions``."""

    text: str
    actions: tuple[CommandAction, ...] = ()


@dataclass(slots=True)
class CommandReply:
    """What to show: a title, Markdown sections, structured parts, and maybe a file.

    ``ok`` is False for refusals and errors. ``private`` replies are for the caller's eyes
    only (ephemeral in a Slack channel, a personal message in Teams); all replies to commands
    are private unless a command says otherwise.
    """

    title: str
    sections: list[str] = field(default_factory=list)
    ok: bool = True
    file_name: str | None = None
    file_content: bytes | None = None
    file_type: str | None = None
    entries: list[HistoryEntry] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    actions: list[CommandAction] = field(default_factory=list)
    items: list[ReplyItem] = field(default_factory=list)
    private: bool = True

    @property
    def text(self) -> str:
        parts = [f"*{self.title}*", *self.sections]
        if self.facts:
            parts.append("\n".join(f"• {f.label}: {f.value}" for f in self.facts))
        group = None
        lines: list[str] = []
        for entry in self.entries:
            if entry.group != group:
                group = entry.group
                lines.append(("\n" if lines else "") + f"{group}")
            detail = entry.snippet or entry.preview
            lines.append(f"• {entry.title} ({entry.when})" + (f" — {detail}" if detail else ""))
        if lines:
            parts.append("\n".join(lines))
        parts.extend(item.text for item in self.items)
        if self.file_name:
            parts.append(f"(file: {self.file_name})")
        return "\n\n".join(parts)
