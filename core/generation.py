"""The generation seam: turn a question and passages into streamed answer text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from core.answers import Passage, RouteDecision, Usage
from core.conversations import Turn


@dataclass(slots=True)
class GenerationRequest:
    """Everything a generator needs for one answer.

    Passages are numbered from 1 in the order given; the answer cites them as ``[n]``. The
    generator fills in ``usage`` (model, tokens) as it goes.
    """

    question: str
    passages: Sequence[Passage]
    route: RouteDecision
    history: Sequence[Turn] = ()
    persona: str = ""
    usage: Usage = field(default_factory=Usage)
    # Set when a first answer cited nothing: the model is asked again with stricter rules.
    strict: bool = False
    locale: str | None = None


class Generator(Protocol):
    """Writes the answer, yielding text as soon as it exists."""

    name: str

    def stream(self, request: GenerationRequest) -> AsyncIterator[str]: ...
