"""What an activity posted to ``/api/messages`` must look like before the bot reads it.

msrest turns JSON into an ``Activity`` leniently: a field of the wrong type is often kept as it
came, and the turn handler then meets a string where it reads an object. The Bot Connector
never sends such activities; they are refused here with 400 and the reason. Only what the
adapter reads is checked; unknown fields and activity types pass (and are ignored later).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botbuilder.schema import Activity

# Activities that name a conversation and someone in it, and that the bot may answer.
_ANSWERED = frozenset({"message", "invoke", "conversationUpdate", "installationUpdate"})


class MalformedActivity(ValueError):
    """The activity is not something Teams sends; the message says what is wrong."""


def _text(value: Any, where: str, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise MalformedActivity(f"{where} must be a{' non-empty' if required else ''} string")


def _mapping(value: Any, where: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MalformedActivity(f"{where} must be an object")
    return value


def check_activity(activity: Activity) -> None:
    """Raise ``MalformedActivity`` when a field the adapter reads has the wrong shape."""
    _text(activity.type, "type", required=True)
    for name in ("id", "text", "name", "reply_to_id", "action", "local_timezone"):
        _text(getattr(activity, name, None), name)
    if activity.type not in _ANSWERED:
        return
    conversation = activity.conversation
    if conversation is None:
        raise MalformedActivity("conversation is missing")
    _text(conversation.id, "conversation.id", required=True)
    _text(getattr(conversation, "conversation_type", None), "conversation.conversationType")
    _text(getattr(conversation, "tenant_id", None), "conversation.tenantId")
    _text(activity.service_url, "serviceUrl", required=True)
    sender = activity.from_property
    if activity.type in {"message", "invoke"}:
        if sender is None:
            raise MalformedActivity("from is missing")
        _text(sender.id, "from.id", required=True)
    for who, account in (("from", sender), ("recipient", activity.recipient)):
        if account is not None:
            _text(account.id, f"{who}.id")
            _text(getattr(account, "aad_object_id", None), f"{who}.aadObjectId")
            _text(getattr(account, "name", None), f"{who}.name")
    for members in ("members_added", "members_removed"):
        for n, member in enumerate(getattr(activity, members, None) or ()):
            if member is None:
                raise MalformedActivity(f"{members}[{n}] is empty")
            _text(getattr(member, "id", None), f"{members}[{n}].id")
    channel_data = activity.channel_data
    if isinstance(channel_data, Mapping):
        for key in ("tenant", "team", "channel"):
            found = _mapping(channel_data.get(key), f"channelData.{key}")
            if found is not None:
                _text(found.get("id"), f"channelData.{key}.id")
    for n, entity in enumerate(activity.entities or ()):
        if entity is None:
            raise MalformedActivity(f"entities[{n}] is empty")
        _text(getattr(entity, "type", None), f"entities[{n}].type")
        fields = getattr(entity, "additional_properties", None) or {}
        if (entity.type or "").lower() == "mention":
            _text(fields.get("text"), f"entities[{n}].text")
            mentioned = _mapping(fields.get("mentioned"), f"entities[{n}].mentioned")
            if mentioned is not None:
                _text(mentioned.get("id"), f"entities[{n}].mentioned.id")
        elif entity.type == "clientInfo":
            _text(fields.get("timezone"), f"entities[{n}].timezone")
