"""Forms behind buttons (``CommandForm``: "Write a verified answer", "Edit"): the button
carries the form, a press opens it as a modal, and submitting it runs the form's command for
whoever submitted it, as if they had typed it."""

from __future__ import annotations

import json
import re
from typing import Any

from core.commands.reply import CommandForm, FormField

FORM_ACTION = re.compile(r"^assistant_form(:\d+)?$")
FORM_VIEW = "assistant_form"
BUTTON_VALUE_CHARS = 2000
METADATA_CHARS = 3000
TITLE_CHARS = 24
INPUT_CHARS = 3000


def _fields(form: CommandForm, room: int | None = None) -> list[list[Any]]:
    return [
        [f.name, f.label, f.value if room is None else f.value[:room], f.multiline, f.optional]
        for f in form.fields
    ]


def button_value(form: CommandForm) -> str:
    """The form in a button's value (2,000 characters at most): a long prefilled value (an
    answer being edited) is shortened until it fits, never the template."""
    room: int | None = None
    while True:
        value = json.dumps(
            {"t": form.title, "s": form.submit, "c": form.template, "f": _fields(form, room)},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        if len(value) <= BUTTON_VALUE_CHARS:
            return value
        longest = max(len(f.value) for f in form.fields)
        room = max(
            0, (room if room is not None else longest) - (len(value) - BUTTON_VALUE_CHARS) - 8
        )


def read_button(value: str) -> CommandForm | None:
    """The form a button carries; None when the value is not one."""
    try:
        data = json.loads(value)
        fields = tuple(
            FormField(str(n), str(label), str(v), bool(multi), bool(opt))
            for n, label, v, multi, opt in data["f"]
        )
        return CommandForm(
            title=str(data["t"]), fields=fields, template=str(data["c"]), submit=str(data["s"])
        )
    except (ValueError, KeyError, TypeError):
        return None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def modal(form: CommandForm, channel: str) -> dict[str, Any]:
    """The form as a modal; ``channel`` is where the result is said when it is submitted."""
    metadata = json.dumps(
        {"c": form.template, "f": [f.name for f in form.fields], "ch": channel},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    blocks = []
    for f in form.fields:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": f.multiline,
            "max_length": INPUT_CHARS,
        }
        if f.value:
            element["initial_value"] = f.value[:INPUT_CHARS]
        blocks.append(
            {
                "type": "input",
                "block_id": f.name,
                "optional": f.optional,
                "label": {"type": "plain_text", "text": _clip(f.label, 2000)},
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": FORM_VIEW,
        "private_metadata": metadata[:METADATA_CHARS],
        "title": {"type": "plain_text", "text": _clip(form.title, TITLE_CHARS)},
        "submit": {"type": "plain_text", "text": _clip(form.submit, TITLE_CHARS)},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def submitted(view: dict[str, Any]) -> tuple[str, str] | None:
    """(the command the submitted modal stands for, the channel to answer in)."""
    try:
        meta = json.loads(str(view.get("private_metadata") or ""))
        template, names, channel = str(meta["c"]), [str(n) for n in meta["f"]], str(meta["ch"])
    except (ValueError, KeyError, TypeError):
        return None
    values = (view.get("state") or {}).get("values") or {}
    text = template
    for name in names:
        given = ((values.get(name) or {}).get("value") or {}).get("value")
        text = text.replace("{" + name + "}", str(given or "").strip())
    return text.strip(), channel
