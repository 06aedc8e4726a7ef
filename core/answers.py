"""What goes back: passages found, the route taken, the answer with its citations."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Matched:
    """What retrieval found of a question's content words (``content``, as lexemes) in one
    passage: the lexemes the passage holds (title and section included), beside every
    lexeme's weight, the same for each passage of one search. Lets the coverage check
    (``core/coverage.py``) read the passages without asking the database again."""

    content: str
    lexemes: tuple[str, ...]
    weights: tuple[float, ...]
    found: frozenset[str]

    def share(self, found: frozenset[str] | set[str]) -> float:
        total = sum(self.weights)
        if total <= 0:
            return 0.0
        return sum(w for lexeme, w in zip(self.lexemes, self.weights, strict=True) if lexeme in found) / total


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved chunk with where it came from and how well it matched."""

    chunk_id: int
    document_id: int
    title: str
    text: str
    domain: str
    score: float
    url: str | None = None
    path: str | None = None
    section: str | None = None
    page_start: int | None = None
    page_end: int | None = None
    # Where most of the text is, when it runs across a page break (page_start otherwise).
    main_page: int | None = None
    # The question's words this passage holds, when retrieval measured them (store/retrieval.py).
    matched: Matched | None = field(default=None, compare=False, repr=False)

    @property
    def page(self) -> int | None:
        return self.main_page if self.main_page is not None else self.page_start

    @property
    def location(self) -> str:
        """Human-readable place in the document: ``p. 3`` or ``pp. 3–4`` or the section."""
        if self.page_start is not None:
            if self.page_end is not None and self.page_end != self.page_start:
                return f"pp. {self.page_start}–{self.page_end}"
            return f"p. {self.page_start}"
        return self.section or ""


@dataclass(frozen=True, slots=True)
class Citation:
    """A source the answer cites as ``[n]``."""

    n: int
    title: str
    snippet: str
    url: str | None = None
    path: str | None = None
    page: int | None = None
    section: str | None = None
    chunk_id: int | None = None
    document_id: int | None = None

    @classmethod
    def from_passage(cls, n: int, passage: Passage, snippet: str | None = None) -> Citation:
        return cls(
            n=n,
            title=passage.title,
            snippet=snippet if snippet is not None else passage.text[:300],
            url=passage.url,
            path=passage.path,
            page=passage.page,
            section=passage.section,
            chunk_id=passage.chunk_id,
            document_id=passage.document_id,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Which domains a question belongs to, how sure we are, and who decided."""

    domains: tuple[str, ...]
    confidence: float
    router: str
    clarification: str | None = None
    # What deciding cost, when a model decided; added to the answer's usage.
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def primary(self) -> str | None:
        return self.domains[0] if self.domains else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "domains": list(self.domains),
            "confidence": round(self.confidence, 3),
            "router": self.router,
        }
        if self.clarification:
            data["clarification"] = self.clarification
        return data


@dataclass(slots=True)
class Usage:
    """What an answer cost (routing included) and how long it took."""

    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    retrieval_ms: float | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None

    def add_route(self, route: RouteDecision) -> None:
        """Count the routing call's tokens and cost in this answer's."""
        self.input_tokens += route.input_tokens
        self.output_tokens += route.output_tokens
        self.cost_usd += route.cost_usd


@dataclass(frozen=True, slots=True)
class Grounding:
    """How the answer was checked against its passages (``core/grounding.py``).

    ``check`` is ``cited`` (a model answer whose sentences cite the passages), ``declined`` (a
    model answer that says the documents do not cover it), ``extractive`` (the passages
    themselves), ``unchecked`` (the model's answer carried no valid citation and was replaced
    by the passages), ``direct`` (a clarifying question or a cached answer) or ``none``.
    """

    grounded: bool = True
    check: str = "extractive"
    dropped_citations: tuple[int, ...] = ()  # [n] the model wrote that matched no passage
    unsupported_figures: tuple[str, ...] = ()  # figures found in none of the passages
    removed_sentences: int = 0  # sentences left out for such a figure (strict setting)
    attributed_sentences: int = 0  # uncited sentences given the marker of the passage they copy
    uncited_sentences: int = 0  # sentences of six words or more shown without a citation
    stopped: str | None = None  # "repetition" when a loop ended the answer early
    reasked: bool = False  # the model was asked a second time, more strictly

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "dropped_citations": list(self.dropped_citations),
            "unsupported_figures": list(self.unsupported_figures),
            "removed_sentences": self.removed_sentences,
            "attributed_sentences": self.attributed_sentences,
            "uncited_sentences": self.uncited_sentences,
            "stopped": self.stopped,
            "reasked": self.reasked,
        }


@dataclass(slots=True)
class Answer:
    """The finished answer as the user sees it, with what it rests on."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    route: RouteDecision | None = None
    sources: list[Passage] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    status: str = "complete"
    conversation_id: int | None = None
    message_id: int | None = None
    grounding: Grounding = field(default_factory=Grounding)
    # Shown with "Talk to a person" (set by the adapter when a help desk is configured).
    handoff: bool = False

    # Answers a person can rate: a 👎 on a verified answer tells admins it went stale, and on
    # "not in the documents" that the documents do cover it (both feed `unanswered`).
    RATED = frozenset({"complete", "verified", "not_found"})

    @property
    def takes_feedback(self) -> bool:
        return self.message_id is not None and self.status in self.RATED
