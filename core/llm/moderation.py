"""Moderation: questions are screened before anything is stored, searched or generated.

The moderation endpoint decides when one is configured; local rules always run first (they are
free) and stand in alone when the endpoint is not configured or fails. A flagged question gets
a polite refusal through ``QuestionRefused``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

import structlog

from core.errors import ModelError, QuestionRefused
from core.llm.client import ModelClient, ModerationVerdict

log = structlog.get_logger(__name__)

REFUSAL = (
    "I'm sorry, but I can't help with that. I'm here for questions about work — HR, IT and "
    "company policies. If I misunderstood, please rephrase your question."
)
SELF_HARM_REFUSAL = (
    "I'm really sorry you're going through this. I can't help with it here, but you don't have "
    "to face it alone: please talk to someone you trust or the Employee Assistance Programme, "
    "and if you are in danger right now, call your local emergency number."
)

_PEOPLE = (
    r"(?:him|her|them|you|everyone|everybody|people|my (?:boss|manager|colleague|co-?worker|"
    r"team(?:mate)?s?)|the (?:office|building|team))"
)
# First-person intent and threats against people; deliberately narrow, so "kill a process",
# "attack surface" or "suicide prevention policy" are never refused.
LOCAL_RULES: dict[str, tuple[str, ...]] = {
    "self-harm/intent": (
        r"\b(?:kill|hurt|harm|cut)(?:ing)? my ?self\b",
        r"\bend(?:ing)? my (?:own )?life\b",
        r"\b(?:i|i'm|i am) (?:want(?:ing)? to die|suicidal)\b",
    ),
    "violence": (
        rf"\b(?:kill|murder|shoot|stab|strangle|beat up|blow up)\s+{_PEOPLE}\b",
        r"\b(?:make|build)\s+(?:a\s+)?(?:bomb|pipe bomb|explosive)",
    ),
    "sexual/minors": (
        r"\b(?:child|children|minor|minors|underage|kid|kids)\b.{0,40}\b(?:sex|sexual|nude|porn)",
        r"\b(?:sex|sexual|nude|porn)\w*\b.{0,40}\b(?:child|children|minor|minors|underage|kids?)\b",
    ),
}


def refusal_for(categories: Iterable[str]) -> str:
    return (
        SELF_HARM_REFUSAL
        if any(c.startswith(("self-harm", "self_harm")) for c in categories)
        else REFUSAL
    )


class Moderator(Protocol):
    """Screens a question; raises ``QuestionRefused`` with a refusal fit to show the user."""

    async def screen(self, text: str) -> None: ...


class LocalModerator:
    """Regular-expression rules plus an optional blocklist of words or phrases."""

    name = "local"

    def __init__(self, blocklist: Iterable[str] = ()) -> None:
        self._rules = {
            category: [re.compile(p, re.IGNORECASE) for p in patterns]
            for category, patterns in LOCAL_RULES.items()
        }
        terms = [t.strip() for t in blocklist if t.strip()]
        if terms:
            self._rules["blocklist"] = [
                re.compile(r"\b" + re.escape(t) + r"\b", re.IGNORECASE) for t in terms
            ]

    def verdict(self, text: str) -> ModerationVerdict:
        hits = tuple(
            category
            for category, patterns in self._rules.items()
            if any(p.search(text) for p in patterns)
        )
        return ModerationVerdict(flagged=bool(hits), categories=hits)

    async def screen(self, text: str) -> None:
        _refuse_if_flagged(self.verdict(text), self.name)


class EndpointModerator:
    """The moderation endpoint, after the local rules; the local rules alone if it fails."""

    name = "endpoint"

    def __init__(self, client: ModelClient, *, model: str, local: LocalModerator) -> None:
        self._client = client
        self._model = model
        self._local = local

    async def screen(self, text: str) -> None:
        await self._local.screen(text)
        try:
            verdict = await self._client.moderate(text, model=self._model)
        except ModelError as exc:
            log.warning("moderation_endpoint_failed", error=str(exc), fallback="local rules")
            return
        _refuse_if_flagged(verdict, self.name)


def _refuse_if_flagged(verdict: ModerationVerdict, by: str) -> None:
    if not verdict.flagged:
        return
    log.info("question_refused", moderator=by, categories=list(verdict.categories))
    raise QuestionRefused(refusal_for(verdict.categories), categories=verdict.categories)
