"""What a request to ``/slack/events`` must look like before bolt sees it.

Slack sends JSON for events and form bodies for commands and interactions (the latter with a
JSON ``payload`` field). bolt trusts that shape: a body that is not JSON, or an envelope whose
``event`` is a string or whose ``team`` is a number, makes it (or our listeners) raise, which
would answer 500 — and Slack retries a 500. Such a request is refused here with 400 and the
reason, whoever sent it; one that is well formed goes on to bolt, which checks its signature.

Only the fields bolt and the adapter read are checked, the way Slack sends them; everything
else passes untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

# Fields that are a string when present (null is allowed too).
_TEXT = frozenset(
    {
        "type", "subtype", "token", "team_id", "enterprise_id", "api_app_id", "event_id",
        "user_id", "channel_id", "channel_type", "trigger_id", "response_url", "callback_id",
        "challenge", "text", "ts", "thread_ts", "event_ts", "bot_id", "user_team",
        "source_team", "tab", "app_id", "context_team_id", "context_enterprise_id",
        "username", "execution_id", "app_installed_team_id",
    }
)
# Who and where: a plain id, or an object whose ``id`` is one.
_REFERENCE = frozenset({"team", "user", "channel", "enterprise", "item"})
# Nested objects read the same way.
_OBJECTS = frozenset(
    {
        "event", "message", "previous_message", "view", "container", "assistant_thread",
        "function_data", "context",
    }
)
_LISTS_OF_OBJECTS = frozenset({"authorizations", "actions", "files"})
# Lists whose items bolt reads field by field (an action's ``text`` is an object, not a string).
_CHECKED_ITEMS = frozenset({"authorizations"})
_FLAGS = frozenset({"is_enterprise_install", "is_ext_shared_channel", "hidden"})
# Interactions carry these as objects, never as bare ids.
_INTERACTION_OBJECTS = ("user", "channel", "team", "container", "view", "message")
_MAX_DEPTH = 6


class MalformedPayload(ValueError):
    """The body is not something Slack sends; the message says what is wrong."""


def parse(body: str, content_type: str | None) -> dict[str, Any]:
    """The payload of a request body, read the way bolt reads it, or ``MalformedPayload``."""
    if not body.strip():
        raise MalformedPayload("empty body")
    if content_type == "application/json" or body.lstrip().startswith("{"):
        payload = _json(body)
    else:
        fields = dict(parse_qsl(body, keep_blank_values=True))
        if "payload" in body:
            if "payload" not in fields:
                raise MalformedPayload("a form body without its payload field")
            payload = _json(fields["payload"])
        else:
            return fields  # a slash command or ssl_check: strings only
    if not isinstance(payload, dict):
        raise MalformedPayload("the payload is not a JSON object")
    check(payload)
    return payload


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedPayload("invalid JSON") from exc


def check(payload: Mapping[str, Any]) -> None:
    """Raise ``MalformedPayload`` if a field bolt or the adapter reads has the wrong type."""
    _check_object(payload, "payload", 0)
    kind = payload.get("type")
    if ("event" in payload or kind == "event_callback") and not isinstance(
        payload.get("event"), dict
    ):
        # bolt reads the event's fields straight away; a missing or null event would raise.
        raise MalformedPayload("event must be an object")
    if kind in {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}:
        for name in _INTERACTION_OBJECTS:
            value = payload.get(name)
            if value is not None and not isinstance(value, dict):
                raise MalformedPayload(f"{name} must be an object in a {kind} payload")


def _check_object(obj: Mapping[str, Any], where: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        return  # nothing bolt reads lies this deep
    for key, value in obj.items():
        if value is None:
            continue
        path = f"{where}.{key}"
        if key in _TEXT and not isinstance(value, str):
            raise MalformedPayload(f"{path} must be a string")
        if key in _FLAGS and not isinstance(value, bool | str):
            raise MalformedPayload(f"{path} must be true or false")
        if key in _REFERENCE:
            if isinstance(value, dict):
                _check_object(value, path, depth + 1)
                if not isinstance(value.get("id"), str | None):
                    raise MalformedPayload(f"{path}.id must be a string")
            elif not isinstance(value, str):
                raise MalformedPayload(f"{path} must be an id or an object")
        elif key in _OBJECTS:
            if not isinstance(value, dict):
                raise MalformedPayload(f"{path} must be an object")
            _check_object(value, path, depth + 1)
        elif key in _LISTS_OF_OBJECTS:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise MalformedPayload(f"{path} must be a list of objects")
            if key in _CHECKED_ITEMS:
                for n, item in enumerate(value):
                    _check_object(item, f"{path}[{n}]", depth + 1)
