"""Teams activities in the core's terms: who asked, where (personal chat, group chat, channel
thread) and what, with the bot's ``<at>`` mention taken out."""

from __future__ import annotations

import html
import re
from types import MappingProxyType

from botbuilder.schema import Activity

from core.events import ChatEvent, ConversationKind, Person, ThreadRef

PLATFORM = "teams"
PERSONAL = "personal"
GROUP_CHAT = "groupChat"
CHANNEL = "channel"

_KINDS = {
    PERSONAL: ConversationKind.DM,
    GROUP_CHAT: ConversationKind.GROUP,
    CHANNEL: ConversationKind.CHANNEL,
}
_AT = re.compile(r"<at[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
# A link typed or pasted as ``<https://…>`` (plain text, as Slack writes links): kept as the
# address, not stripped as if it were an HTML tag.
_LINK = re.compile(r"<((?:https?|mailto):[^<>\s]+)>", re.IGNORECASE)
_THREAD_SUFFIX = ";messageid="


def conversation_type(activity: Activity) -> str:
    """``personal``, ``groupChat`` or ``channel`` (Teams leaves it out of some personal chats)."""
    conversation = activity.conversation
    kind = getattr(conversation, "conversation_type", None) if conversation else None
    return kind or PERSONAL


def tenant_id(activity: Activity) -> str:
    conversation = activity.conversation
    tenant = getattr(conversation, "tenant_id", None) if conversation else None
    if not tenant and isinstance(activity.channel_data, dict):
        tenant = (activity.channel_data.get("tenant") or {}).get("id")
    return tenant or "default"


def user_key(activity: Activity) -> str:
    """The person's stable id: their Entra object id, else the Teams user id."""
    sender = activity.from_property
    if sender is None:
        return ""
    return getattr(sender, "aad_object_id", None) or sender.id or ""


def thread_of(activity: Activity) -> ThreadRef:
    """One Teams conversation is one conversation; a channel thread is one conversation too."""
    kind = conversation_type(activity)
    conversation_id = activity.conversation.id if activity.conversation else ""
    channel_id, _, root = conversation_id.partition(_THREAD_SUFFIX)
    if kind == CHANNEL:
        thread_id = root or activity.reply_to_id or activity.id or channel_id
    else:
        channel_id, thread_id = conversation_id, conversation_id
    return ThreadRef(
        platform=PLATFORM,
        workspace_id=tenant_id(activity),
        channel_id=channel_id,
        thread_id=thread_id,
        kind=_KINDS.get(kind, ConversationKind.GROUP),
    )


def person_of(activity: Activity) -> Person:
    sender = activity.from_property
    return Person(
        platform=PLATFORM,
        workspace_id=tenant_id(activity),
        user_id=user_key(activity),
        display_name=getattr(sender, "name", None) if sender else None,
    )


def other_mentions(activity: Activity) -> tuple[str, ...]:
    """The Teams user ids of people @-mentioned in the message, the bot left out, in order."""
    bot_id = activity.recipient.id if activity.recipient else None
    found: list[str] = []
    for entity in activity.entities or ():
        if (entity.type or "").lower() != "mention":
            continue
        mentioned = (getattr(entity, "additional_properties", None) or {}).get("mentioned") or {}
        if mentioned.get("id") and mentioned.get("id") != bot_id:
            found.append(str(mentioned["id"]))
    return tuple(found)


def question_text(activity: Activity) -> str:
    """The message text as the user meant it: the bot's mention removed, other mentions as
    ``@Name``, Teams' HTML (``&nbsp;``, ``<p>``) turned back into plain text."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    for entity in activity.entities or ():
        if (entity.type or "").lower() != "mention":
            continue
        fields = getattr(entity, "additional_properties", None) or {}
        mentioned = fields.get("mentioned") or {}
        if mentioned.get("id") == bot_id and fields.get("text"):
            text = text.replace(str(fields["text"]), " ")
    text = _AT.sub(lambda m: "@" + m.group(1).strip(), text)
    text = html.unescape(_TAG.sub(" ", _LINK.sub(r" \1 ", text))).replace("\xa0", " ")
    return " ".join(text.split())


def event_key(activity: Activity) -> str:
    """The dedupe key: activity ids are unique within a conversation."""
    conversation_id = activity.conversation.id if activity.conversation else ""
    return f"teams:{conversation_id}:{activity.id}"


def chat_event(activity: Activity, *, attempt: int = 1) -> ChatEvent:
    """The question in ``activity`` for ``Assistant.handle``; ``attempt``: which try at
    answering it this is (the inbox row's attempts)."""
    return ChatEvent(
        person=person_of(activity),
        thread=thread_of(activity),
        text=question_text(activity),
        event_key=event_key(activity),
        attempt=attempt,
        extras=MappingProxyType(
            {
                "teams_conversation_id": activity.conversation.id if activity.conversation else "",
                "teams_activity_id": activity.id,
                "teams_user_id": activity.from_property.id if activity.from_property else "",
                "teams_conversation_type": conversation_type(activity),
                "service_url": activity.service_url,
            }
        ),
        # The asker's language as the Teams client reports it ("en-US").
        locale=activity.locale or None,
    )


def bot_was_added(activity: Activity) -> bool:
    bot_id = activity.recipient.id if activity.recipient else None
    return any(member.id == bot_id for member in activity.members_added or ())


def bot_was_removed(activity: Activity) -> bool:
    bot_id = activity.recipient.id if activity.recipient else None
    removed = any(member.id == bot_id for member in activity.members_removed or ())
    uninstalled = activity.type == "installationUpdate" and (activity.action or "").startswith(
        "remove"
    )
    return removed or uninstalled


def client_timezone(activity: Activity) -> str | None:
    """The IANA zone Teams reports in the ``clientInfo`` entity, when it does."""
    for entity in activity.entities or ():
        if (entity.type or "") == "clientInfo":
            zone = (getattr(entity, "additional_properties", None) or {}).get("timezone")
            if zone:
                return str(zone)
    return getattr(activity, "local_timezone", None)
