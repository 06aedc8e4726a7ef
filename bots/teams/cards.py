"""What Teams shows: answer messages with the AI label, citations and feedback, source cards,
the welcome message and command replies — built as botbuilder ``Activity`` objects.

botbuilder's ``Entity`` serializes nothing but ``type``; ``WireEntity`` carries every field of
a Teams entity (``streaminfo``, the schema.org ``Message``) through to the wire.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    CardAction,
    Entity,
    SuggestedActions,
    TextFormatTypes,
)

from bots.teams.escaping import no_mentions
from core.answers import Citation

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"
MAX_CITATIONS = 20
NAME_CHARS = 80
ABSTRACT_CHARS = 160
KEYWORD_CHARS = 28
MAX_SUGGESTIONS = 6
_MARKER = re.compile(r"\[(\d{1,3})\]")
_ICONS = {
    ".pdf": "PDF",
    ".doc": "Microsoft Word",
    ".docx": "Microsoft Word",
    ".xls": "Microsoft Excel",
    ".xlsx": "Microsoft Excel",
    ".ppt": "Microsoft PowerPoint",
    ".pptx": "Microsoft PowerPoint",
    ".txt": "Text",
    ".md": "Text",
    ".html": "Text",
    ".htm": "Text",
}

WELCOME = (
    "Hi, I'm Switchboard. Ask me about HR, IT or company policies: I answer from the company's "
    "documents and cite them. Here is what people asked about this week:"
)
WELCOME_NO_PROMPTS = (
    "Hi, I'm Switchboard. Ask me about HR, IT or company policies: I answer from the company's "
    "documents and cite them. Type **help** to see what else I can do."
)


class WireEntity(Entity):
    """An activity entity whose fields all reach the wire, whatever their names."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        super().__init__(type=str(fields["type"]))
        attribute_map: dict[str, dict[str, str]] = {"type": {"key": "type", "type": "str"}}
        for index, (key, value) in enumerate(fields.items()):
            if key == "type":
                continue
            name = f"field_{index}"
            # msrest reads dots in keys as nesting; these keys are flat.
            attribute_map[name] = {"key": key.replace(".", "\\."), "type": "object"}
            setattr(self, name, value)
        self._attribute_map = attribute_map
        self.fields = dict(fields)


def stream_info(
    stream_type: str, *, sequence: int | None = None, stream_id: str | None = None
) -> WireEntity:
    """The ``streaminfo`` entity of one streaming request (the final one has no sequence)."""
    fields: dict[str, Any] = {"type": "streaminfo", "streamType": stream_type}
    if sequence is not None:
        fields["streamSequence"] = sequence
    if stream_id:
        fields["streamId"] = stream_id
    return WireEntity(fields)


def clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _location(citation: Citation) -> str:
    if citation.page is not None:
        return f"p. {citation.page}"
    return citation.section or ""


def _link(citation: Citation) -> str | None:
    url = citation.url or ""
    return url if urlsplit(url).scheme in {"http", "https"} else None


def _icon(citation: Citation) -> str | None:
    name = urlsplit(citation.url).path if citation.url else (citation.path or "")
    return _ICONS.get(PurePosixPath(name).suffix.lower())


def markers(text: str) -> set[int]:
    """The ``[n]`` numbers that appear in ``text``."""
    return {int(n) for n in _MARKER.findall(text)}


def cited_in(text: str, citations: Sequence[Citation]) -> list[Citation]:
    """The citations whose marker ``text`` shows, by number."""
    shown = markers(text)
    return sorted((c for c in citations if c.n in shown), key=lambda c: c.n)


def _appearance(citation: Citation) -> dict[str, Any]:
    location = _location(citation)
    title = f"{citation.title}, {location}" if location else citation.title
    appearance: dict[str, Any] = {
        "@type": "DigitalDocument",
        "name": clip(title, NAME_CHARS),
        "abstract": clip(citation.snippet or citation.title, ABSTRACT_CHARS),
    }
    if link := _link(citation):
        appearance["url"] = link
    if location:
        appearance["keywords"] = [clip(location, KEYWORD_CHARS)]
    if icon := _icon(citation):
        appearance["image"] = {"@type": "ImageObject", "name": icon}
    return appearance


def ai_message_entity(citations: Sequence[Citation]) -> WireEntity:
    """The one root ``https://schema.org/Message`` entity: the AI label and up to 20 citations."""
    fields: dict[str, Any] = {
        "type": "https://schema.org/Message",
        "@type": "Message",
        "@context": "https://schema.org",
        "@id": "",
        "additionalType": ["AIGeneratedContent"],
    }
    if citations:
        fields["citation"] = [
            {"@type": "Claim", "position": c.n, "appearance": _appearance(c)}
            for c in citations[:MAX_CITATIONS]
        ]
    return WireEntity(fields)


def needs_sources_card(citations: Sequence[Citation]) -> bool:
    """True when the entity cannot show every source fully: too many, a title cut short, or a
    source with no web address to open (a file path, a page number the reader must find)."""
    return len(citations) > MAX_CITATIONS or any(
        len(c.title) > NAME_CHARS or _link(c) is None for c in citations
    )


def sources_card(citations: Iterable[Citation]) -> Attachment:
    """An Adaptive Card listing each source with its full title, place and link or path."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": "Sources", "weight": "Bolder", "size": "Medium"}
    ]
    for citation in citations:
        location = _location(citation)
        link = _link(citation)
        title = f"[{citation.title}]({link})" if link else f"**{citation.title}**"
        where = " · ".join(
            part for part in (location, None if link else (citation.path or citation.url)) if part
        )
        body.append(
            {
                "type": "TextBlock",
                "text": f"[{citation.n}] {title}" + (f" — {where}" if where else ""),
                "wrap": True,
                "spacing": "Small",
            }
        )
    return adaptive_card(body)


def adaptive_card(
    body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None
) -> Attachment:
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return Attachment(content_type=CARD_TYPE, content=content)


def send_text_action(title: str, text: str) -> dict[str, Any]:
    """A card button that sends ``text`` to the bot as if the user had typed it."""
    return {
        "type": "Action.Submit",
        "title": clip(title, 60),
        "data": {"msteams": {"type": "messageBack", "text": text, "displayText": text}},
    }


def answer_activity(
    text: str,
    citations: Sequence[Citation],
    *,
    stream_id: str | None = None,
    feedback: bool = True,
    card: bool = True,
) -> Activity:
    """A finished answer (or its last part): AI label, citations, feedback, sources card."""
    cited = cited_in(text, citations)
    entities: list[Entity] = [ai_message_entity(cited)]
    if stream_id:
        entities.insert(0, stream_info("final", stream_id=stream_id))
    activity = Activity(
        type=ActivityTypes.message,
        text=no_mentions(text),
        text_format=TextFormatTypes.markdown,
        entities=entities,
    )
    if feedback:
        activity.channel_data = {"feedbackLoop": {"type": "default"}}
    if card and cited and needs_sources_card(cited):
        activity.attachments = [sources_card(cited)]
    return activity


def plain_message(text: str) -> Activity:
    return Activity(
        type=ActivityTypes.message, text=no_mentions(text), text_format=TextFormatTypes.markdown
    )


WEEKLY = "Here is what colleagues asked about this week. Tap one to ask it too:"


def welcome_activity(prompts: Sequence[str], *, personal: bool, intro: str = WELCOME) -> Activity:
    """The greeting when the bot is added (or the weekly note): prompts as one-tap suggestions."""
    shown = [p for p in prompts if p.strip()][:MAX_SUGGESTIONS]
    activity = plain_message(intro if shown else WELCOME_NO_PROMPTS)
    if not shown:
        return activity
    if personal:
        activity.suggested_actions = SuggestedActions(
            actions=[CardAction(type="imBack", title=clip(p, 60), value=p) for p in shown]
        )
    else:
        # Suggested actions only show in personal chats; a card's buttons work everywhere.
        activity.attachments = [
            adaptive_card(
                [{"type": "TextBlock", "text": "Try asking", "weight": "Bolder"}],
                [send_text_action(p, p) for p in shown],
            )
        ]
    return activity


def command_reply_activity(reply: Any, *, file_offer: Attachment | None = None) -> Activity:
    """A ``CommandReply`` as Markdown, with its facts and buttons on a card when it has any.
    A reply's file goes out as ``file_offer`` (a FileConsentCard) when the chat can take one."""
    parts = [f"**{reply.title}**", *reply.sections]
    group = None
    for entry in getattr(reply, "entries", None) or ():
        if entry.group != group:
            # Entries come newest first: a heading (Today, Yesterday, …) wherever one starts.
            group = entry.group
            parts.append(f"**{group}**")
        detail = entry.snippet or entry.preview
        parts.append(f"- {entry.title} ({entry.when})" + (f": {detail}" if detail else ""))
    if getattr(reply, "file_name", None) and file_offer is not None:
        parts.append(f"Accept below and I'll save {reply.file_name} to your OneDrive.")
    elif getattr(reply, "file_name", None):
        parts.append(
            f"The file {reply.file_name} is ready, but Teams cannot receive it from me here; "
            "ask an admin for the export, or run the command in Slack."
        )
    activity = plain_message("\n\n".join(parts))
    facts = getattr(reply, "facts", None) or ()
    actions = getattr(reply, "actions", None) or ()
    items = getattr(reply, "items", None) or ()
    if facts or actions or items:
        body: list[dict[str, Any]] = []
        if facts:
            body.append(
                {"type": "FactSet", "facts": [{"title": f.label, "value": f.value} for f in facts]}
            )
        # Items with buttons of their own go on the card, not in the text.
        body.extend(item_containers(items))
        activity.attachments = [adaptive_card(body, [_card_action(a) for a in actions])]
    if file_offer is not None and getattr(reply, "file_name", None):
        activity.attachments = [*(activity.attachments or []), file_offer]
    return activity


# -- hand-off and forms ----------------------------------------------------------------------

#: What a card's Action.Submit puts in ``activity.value`` so the bot knows it is ours.
SUBMIT_KEY = "switchboard"
HANDOFF_LABEL = "Talk to a person"
_INPUT_PREFIX = "f_"


def handoff_activity(message_id: int) -> Activity:
    """ "Talk to a person" for the answer just given: a small card right under it (Teams takes
    no card actions on a streamed message, so it is a message of its own)."""
    activity = Activity(type=ActivityTypes.message)
    activity.attachments = [
        adaptive_card(
            [
                {
                    "type": "TextBlock",
                    "text": "Need a person to look at this?",
                    "isSubtle": True,
                    "wrap": True,
                    "size": "Small",
                }
            ],
            [
                {
                    "type": "Action.Submit",
                    "title": HANDOFF_LABEL,
                    "data": {SUBMIT_KEY: "handoff", "message_id": message_id},
                }
            ],
        )
    ]
    return activity


def form_action(label: str, form: Any, key: int = 0) -> dict[str, Any]:
    """A button that opens ``form`` (a ``CommandForm``) inside the card: its fields as inputs,
    prefilled, and a submit that sends the form's template and values back to the bot. Input
    ids are unique in the card (``key`` tells this form's from another's on the same card)."""
    prefix = f"{_INPUT_PREFIX}{key}_"
    body: list[dict[str, Any]] = []
    for f in form.fields:
        body.append(
            {
                "type": "Input.Text",
                "id": prefix + f.name,
                "label": f.label,
                "value": f.value,
                "isMultiline": f.multiline,
                "isRequired": not f.optional,
                "errorMessage": f"{f.label} is needed.",
                "maxLength": 4000,
            }
        )
    submit = {
        "type": "Action.Submit",
        "title": clip(form.submit, 60),
        "data": {
            SUBMIT_KEY: "form",
            "template": form.template,
            "fields": [f.name for f in form.fields],
            "prefix": prefix,
        },
    }
    return {
        "type": "Action.ShowCard",
        "title": clip(label, 60),
        "card": {"type": "AdaptiveCard", "body": body, "actions": [submit]},
    }


def _card_action(action: Any, key: int = 0) -> dict[str, Any]:
    if getattr(action, "form", None) is not None:
        return form_action(action.label, action.form, key)
    return send_text_action(action.label, action.command)


def read_form(value: Any) -> str | None:
    """The command a submitted form stands for (``CommandForm.command``); None when ``value``
    is not one of our forms."""
    if not isinstance(value, dict) or value.get(SUBMIT_KEY) != "form":
        return None
    template, names = value.get("template"), value.get("fields")
    prefix = value.get("prefix", _INPUT_PREFIX)
    if not isinstance(template, str) or not isinstance(names, list) or not isinstance(prefix, str):
        return None
    text = template
    for name in names:
        given = value.get(prefix + str(name))
        text = text.replace("{" + str(name) + "}", given.strip() if isinstance(given, str) else "")
    return text.strip() or None


def read_handoff(value: Any) -> int | None:
    """The answer's id when ``value`` is a "Talk to a person" press."""
    if not isinstance(value, dict) or value.get(SUBMIT_KEY) != "handoff":
        return None
    message_id = value.get("message_id")
    return message_id if isinstance(message_id, int) and message_id > 0 else None


def item_containers(items: Sequence[Any]) -> list[dict[str, Any]]:
    """A reply's items (``ReplyItem``): each its text and its own buttons."""
    body: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        parts: list[dict[str, Any]] = [{"type": "TextBlock", "text": item.text, "wrap": True}]
        if item.actions:
            actions = [_card_action(a, n * 10 + i + 1) for i, a in enumerate(item.actions[:5])]
            parts.append({"type": "ActionSet", "actions": actions})
        body.append({"type": "Container", "separator": True, "items": parts})
    return body
