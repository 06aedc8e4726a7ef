"""What a "Write a verified answer" card becomes once its form is sent and saved.

Teams leaves a card as it was after an Action.Submit, form and button ready for a second
press. Once the answer is saved the bot replaces the card (``updateActivity`` on its id) with
a read-only one saying what was saved, by whom and when. A save that failed leaves the card
alone: the form keeps what the admin wrote, and the reply says what went wrong.
"""

from __future__ import annotations

import re
from typing import Any

from botbuilder.schema import Activity, ActivityTypes

from bots.teams.cards import adaptive_card, clip

ADD = "answers add"
# The saved reply's title ("Verified answer #12 saved") and its mark, as the core writes them
# ("_Verified answer · Ana Lima · 4 Dec 2026_").
_SAVED_ID = re.compile(r"#(\d+)\b")
_MARK = re.compile(r"^_?Verified answer( · .+?)_?$")


def closes_card(command: str) -> bool:
    """True for a form whose card is done with once it saved: a new verified answer."""
    return command.lower().startswith(ADD)


def saved_line(reply: Any) -> str:
    """``Saved as verified answer #12 · Ana Lima · 4 Dec 2026`` for an ``answers add`` reply."""
    found = _SAVED_ID.search(reply.title)
    marks = (m for s in reply.sections if (m := _MARK.match(s.strip())) is not None)
    mark = next(marks, None)
    if found is None or mark is None:
        return f"Saved: {reply.title}"
    return f"Saved as verified answer #{found.group(1)}{mark.group(1)}"


def saved_card(reply: Any, command: str) -> Activity:
    """The card in place of the form: what was saved, for which question, and nothing to press."""
    question = command[len(ADD) :].partition("::")[0].strip()
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": saved_line(reply), "weight": "Bolder", "wrap": True}
    ]
    if question:
        body.append({"type": "TextBlock", "text": f"“{clip(question, 200)}”", "wrap": True})
    body.append(
        {
            "type": "TextBlock",
            "text": "Send `unanswered` to see the rest of the list again.",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    activity = Activity(type=ActivityTypes.message)
    activity.attachments = [adaptive_card(body)]
    return activity
