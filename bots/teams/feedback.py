"""Teams' feedback buttons: reading the ``message/submitAction`` invoke (``store.feedback``
keeps the vote).

Teams sends ``{actionName: "feedback", actionValue: {reaction: "like"|"dislike", feedback:
"{\\"feedbackText\\": \\"…\\"}"}}`` with ``replyToId`` naming the rated message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_RATINGS = {"like": 1, "dislike": -1}


@dataclass(frozen=True, slots=True)
class Rating:
    """What the user said about one message."""

    rating: int
    comment: str | None


def read_feedback(value: Any) -> Rating | None:
    """The rating in an invoke's ``value``, or None when it is not feedback we understand."""
    if not isinstance(value, dict) or value.get("actionName") != "feedback":
        return None
    action = value.get("actionValue") or {}
    if not isinstance(action, dict):
        return None
    rating = _RATINGS.get(str(action.get("reaction", "")).lower())
    if rating is None:
        return None
    raw = action.get("feedback")
    comment: str | None = None
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw  # some clients send the text itself
        text = parsed.get("feedbackText") if isinstance(parsed, dict) else parsed
        comment = (str(text).strip() or None) if text is not None else None
    elif isinstance(raw, dict):
        comment = str(raw.get("feedbackText") or "").strip() or None
    return Rating(rating=rating, comment=comment)
