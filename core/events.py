"""What arrives: a question from a person somewhere, in platform-neutral terms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class ConversationKind(StrEnum):
    """Where a conversation happens, whatever the platform calls it."""

    DM = "dm"
    CHANNEL = "channel"
    GROUP = "group"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class Person:
    """Who asked: the platform's user id, scoped by workspace or tenant.

    ``email`` is the confirmed email once known (``core.identity``), ``entra_id`` the
    Microsoft Entra object id. ``account`` is set when the same email on every platform is
    one person: limits and the user record follow it rather than the platform id.
    """

    platform: str
    workspace_id: str
    user_id: str
    display_name: str | None = None
    email: str | None = None
    entra_id: str | None = None
    account: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadRef:
    """Where a conversation lives: one platform thread is one conversation."""

    platform: str
    workspace_id: str
    channel_id: str
    thread_id: str
    kind: ConversationKind = ConversationKind.DM


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with the question."""

    name: str
    url: str | None = None
    mime_type: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """One question: who, where, what.

    ``text`` has platform mentions already stripped. ``event_key`` is the platform's delivery
    id (Slack ``event_id``, Teams activity id) used to answer each question once. ``extras``
    carries platform leftovers for the adapter's own use; the core never reads them.

    ``attempt`` counts the tries at answering this event (the inbox row's ``attempts``): 1 for
    the first; more when an earlier try died or failed and the event is answered again. A
    later attempt is the same question asked once, so the person's limits are not charged
    again (``core.limits.QuestionGate``).
    """

    person: Person
    thread: ThreadRef
    text: str
    event_key: str | None = None
    attachments: tuple[Attachment, ...] = ()
    extras: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    attempt: int = 1
    locale: str | None = None
    # The message's own identity (platform, workspace, channel, ts) where the platform has
    # one: one message delivered under two event ids is answered once.
    message_key: str | None = None
