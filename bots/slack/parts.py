"""The messages one Slack answer shows, and how its final text meets what they show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import structlog
from slack_sdk.web.async_chat_stream import AsyncChatStream

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Part:
    """One Slack message of the answer and the text it shows."""

    ts: str
    mode: Literal["stream", "post"]
    text: str = ""
    streamer: AsyncChatStream | None = None
    sent_at: float = 0.0
    full: bool = False


def still_to_show(parts: Sequence[Part], pending: str, final: str) -> str:
    """What is left to send once the stored answer is ``final``: the stored text after what
    the messages show, or ``pending`` when it no longer starts with it (a message can only
    grow, so what was shown stays)."""
    shown = "".join(part.text for part in parts)
    if shown + pending == final:
        return pending
    if final.startswith(shown):
        return final[len(shown) :]
    log.info("slack_streamed_text_differs", shown=len(shown), final=len(final))
    return pending
