"""Block Kit for answers: the text in pieces Slack accepts, sources, and 👍/👎 buttons."""

from __future__ import annotations

import re
from typing import Any, Literal

from bots.slack import escaping
from core.answers import Answer, Citation

# Slack's limits (docs.slack.dev): a streamed message and the markdown blocks of one payload
# hold 12,000 characters; a section 3,000; a message 50 blocks; ``text`` ~4,000 in practice.
MESSAGE_CHARS = 12_000
SECTION_CHARS = 3_000
MAX_BLOCKS = 50
NOTIFICATION_CHARS = 300
MAX_SOURCES = 20

FEEDBACK_ACTION = "answer_feedback"
HANDOFF_ACTION = "answer_handoff"
HANDOFF_LABEL = "Talk to a person"
Block = dict[str, Any]

_BREAKS = ("\n\n", "\n", ". ", " ")


def take(text: str, room: int) -> tuple[str, str]:
    """Split ``text`` into a head of at most ``room`` characters and the rest, nothing lost.

    The head ends at the last paragraph break that fits, else a line break, sentence end or
    space in its last third, so a long answer is split where a reader pauses, not mid-word.
    """
    if len(text) <= room:
        return text, ""
    if room <= 0:
        return "", text
    window = text[:room]
    floor = room * 2 // 3
    for mark in _BREAKS:
        cut = window.rfind(mark)
        if cut >= floor:
            cut += len(mark)
            return text[:cut], text[cut:]
    return window, text[room:]


def split(text: str, room: int = MESSAGE_CHARS) -> list[str]:
    """``text`` in consecutive pieces of at most ``room`` characters; ``"".join`` gives it back."""
    pieces = []
    rest = text
    while rest:
        head, rest = take(rest, room)
        pieces.append(head)
    return pieces


def markdown(text: str) -> Block:
    """A markdown block showing ``text``, which may not ping anyone (see ``escaping``)."""
    return {"type": "markdown", "text": escaping.markdown(text)}


def notification(text: str) -> str:
    """The plain ``text`` of a message whose body is in blocks: what notifications show."""
    flat = " ".join(text.split())
    flat = flat if len(flat) <= NOTIFICATION_CHARS else flat[: NOTIFICATION_CHARS - 1] + "…"
    return escaping.mrkdwn(flat)


def _escape(text: str) -> str:
    return escaping.mrkdwn(text)


def source_line(citation: Citation) -> str:
    """``[1] <url|Title>, p. 3`` — numbered like the answer's markers, linked when it can be."""
    title = _escape(" ".join(citation.title.split()) or "Untitled").replace("|", "¦")
    if citation.url and re.match(r"https?://", citation.url):
        shown = f"<{escaping.link_target(citation.url)}|{title}>"
    elif citation.path:
        shown = f"{title} (`{_escape(citation.path)}`)"
    else:
        shown = title
    where = ""
    if citation.page is not None:
        where = f", p. {citation.page}"
    elif citation.section:
        where = f" › {_escape(citation.section)}"
    return f"[{citation.n}] {shown}{where}"


def source_blocks(citations: list[Citation]) -> list[Block]:
    """Sources under the answer: one section per 3,000 characters of lines."""
    if not citations:
        return []
    lines = [source_line(c) for c in citations[:MAX_SOURCES]]
    blocks: list[Block] = []
    current = "*Sources*"
    for line in lines:
        line = line[: SECTION_CHARS - 20]
        if len(current) + 1 + len(line) > SECTION_CHARS:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": current}})
            current = line
        else:
            current += "\n" + line
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": current}})
    return blocks


def feedback_block(message_id: int) -> Block:
    """👍/👎 under an answer; the value carries the stored message id back to us."""
    return {
        "type": "context_actions",
        "block_id": f"feedback-{message_id}",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "positive_button": {
                    "text": {"type": "plain_text", "text": "👍"},
                    "accessibility_label": "This answer was helpful",
                    "value": f"up:{message_id}",
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "👎"},
                    "accessibility_label": "This answer was not helpful",
                    "value": f"down:{message_id}",
                },
            }
        ],
    }


def handoff_block(message_id: int) -> Block:
    """"Talk to a person" right under the 👍/👎 (a ``context_actions`` block takes only
    feedback and icon buttons, so it is a button of its own)."""
    return {
        "type": "actions",
        "block_id": f"handoff-{message_id}",
        "elements": [
            {
                "type": "button",
                "action_id": HANDOFF_ACTION,
                "text": {"type": "plain_text", "text": HANDOFF_LABEL},
                "value": str(message_id),
                "accessibility_label": "Send this question to a person on the help desk",
            }
        ],
    }


def answer_blocks(answer: Answer) -> list[Block]:
    """What goes under the last message of an answer: sources, then feedback buttons and,
    when a help desk is configured, "Talk to a person"."""
    blocks = source_blocks(answer.citations)
    if answer.takes_feedback:
        assert answer.message_id is not None
        blocks.append(feedback_block(answer.message_id))
        if answer.handoff:
            blocks.append(handoff_block(answer.message_id))
    # The last blocks (feedback, hand-off) are kept when sources are many.
    if len(blocks) > MAX_BLOCKS - 1:
        tail = 2 if answer.handoff and answer.takes_feedback else int(answer.takes_feedback)
        blocks = blocks[: MAX_BLOCKS - 1 - tail] + blocks[len(blocks) - tail :]
    return blocks  # one block stays free for the text in a posted message


def parse_feedback_value(value: str) -> tuple[Literal[1, -1], int] | None:
    """``"down:42"`` → (rating -1, message 42); None for anything else."""
    kind, _, number = value.partition(":")
    if kind not in {"up", "down"} or not number.isdigit():
        return None
    rating: Literal[1, -1] = 1 if kind == "up" else -1
    return rating, int(number)
