"""When a question leans on the conversation before it.

A Slack thread is one topic, but a Teams personal or group chat is one conversation for ever:
without a rule, every question after the first would be a follow-up there, and follow-ups get
neither a verified answer nor the answer cache. Two signals decide instead (docs/verified-answers.md):

- **how it reads**: "and for contractors?", "what about Berlin?", "is it paid?" lean on what
  came before; "How do I reset my password?" does not, however long the chat;
- **a quiet gap**: after ``quiet_s`` without a message, the conversation starts afresh, unless
  the question reads as a follow-up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.conversations import Turn

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# Words that carry a question on from the last one, whatever its length: "and for contractors?",
# "but what if I'm part-time?" (English, German, French, Spanish).
_CONTINUES = frozenset(
    "and but or also so then plus otherwise same und aber auch oder et mais aussi ou y pero "
    "también".split()
)
_CONTINUES_PAIRS = frozenset({("what", "about"), ("how", "about"), ("what", "if")})
# In a short question, words that point back at the last one: "is it paid?", "for them?".
_POINTS_BACK = frozenset(
    "it its it's that this these those they them their he she him her same".split()
)
# A short question opening with these completes the last one: "for contractors?", "in Berlin?".
_COMPLETES = frozenset(
    "for in at with without on during after before if only even there".split()
)
SHORT_WORDS = 5
FRAGMENT_WORDS = 2


def reads_as_follow_up(question: str) -> bool:
    """Whether ``question`` only makes sense with the one before it."""
    words = [w.lower().replace("’", "'") for w in _WORD.findall(question)]
    if not words:
        return False
    if words[0] in _CONTINUES or tuple(words[:2]) in _CONTINUES_PAIRS:
        return True
    if len(words) <= FRAGMENT_WORDS:
        return True  # "Why?", "Contractors?", "How long?"
    if len(words) <= SHORT_WORDS:
        return words[0] in _COMPLETES or any(w in _POINTS_BACK for w in words)
    return False


@dataclass(frozen=True, slots=True)
class Context:
    """What one question may lean on. ``follow_up``: it reads as one and has turns to lean
    on — it gets no verified answer and no cached one. ``turns``: what routing, search and
    the model see (none after a quiet gap, unless it is a follow-up)."""

    turns: Sequence[Turn]
    follow_up: bool


@dataclass(frozen=True, slots=True)
class FollowUpRule:
    """``quiet_s``: seconds without a message after which a conversation starts afresh for a
    question that does not read as a follow-up (0: never)."""

    quiet_s: float = 1800.0

    def context(
        self, question: str, history: Sequence[Turn], now: datetime | None = None
    ) -> Context:
        if not history:
            return Context((), follow_up=False)
        if reads_as_follow_up(question):
            return Context(history, follow_up=True)
        last = history[-1].at
        now = now or datetime.now(UTC)
        if self.quiet_s > 0 and last is not None and (now - last).total_seconds() > self.quiet_s:
            return Context((), follow_up=False)
        return Context(history, follow_up=False)
