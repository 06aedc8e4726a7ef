"""Forms behind buttons (``CommandForm``: "Write a verified answer", "Edit"): the button
carries the form, a press opens it as a modal, and submitting it runs the form's command for
whoever submitted it, as if they had typed it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from core.commands.reply import CommandForm, FormField

FORM_ACTION = re.compile(r"^assistant_form(:\d+)?$")
FORM_VIEW = "assistant_form"
BUTTON_VALUE_CHARS = 2000
METADATA_CHARS = 3000
TITLE_CHARS = 24
INPUT_CHARS = 3000


def _encode(form: CommandForm) -> str:
    fields = [[f.name, f.label, f.value, f.multiline, f.optional] for f in form.fields]
    data = {"t": form.title, "s": form.submit, "c": form.template, "f": fields}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def button_value(form: CommandForm) -> str:
    """The form in a button's value (2,000 characters at most). A prefilled value too long to
    fit (a long answer being edited) is left out, never cut — a cut answer saved back would
    lose its end — and its label says so."""
    value = _encode(form)
    while len(value) > BUTTON_VALUE_CHARS:
        longest = max(form.fields, key=lambda f: len(f.value))
        if not longest.value:
            break
        blank = replace(
            longest, value="", label=f"{longest.label} (too long to show here: write it again)"
        )
        form = replace(form, fields=tuple(blank if f is longest else f for f in form.fields))
        value = _encode(form)
    return value


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
