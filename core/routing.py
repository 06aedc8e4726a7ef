"""Routing: which domains a question belongs to.

Domains come from configuration. The lexical router decides without a model round trip by
comparing the question's words with each domain's description and examples. The tiered router
lets it decide alone when it is sure and asks a slower router (the LLM router in
``core.llm.router``) only when it is not.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import structlog
import yaml

from core.answers import RouteDecision
from core.errors import ConfigurationError
from core.text import terms

log = structlog.get_logger(__name__)

@dataclass(frozen=True, slots=True)
class Domain:
    """A subject area: what it covers, which document domains it searches, how it speaks."""

    name: str
    description: str
    sources: tuple[str, ...]
    persona: str
    examples: tuple[str, ...]
    contact: str = ""  # where to ask when the documents have no answer


class Router(Protocol):
    """Decides which domains a question belongs to."""

    async def route(self, question: str, history: Sequence[str] = ()) -> RouteDecision: ...


def load_domains(path: Path | None = None) -> tuple[Domain, ...]:
    """Read domains from ``path``, or the defaults shipped with Switchboard."""
    try:
        raw = (
            path.read_text(encoding="utf-8")
            if path is not None
            else resources.files("core").joinpath("domains.yaml").read_text(encoding="utf-8")
        )
        data = yaml.safe_load(raw) or {}
        domains = tuple(
            Domain(
                name=str(item["name"]),
                description=str(item.get("description", "")),
                sources=tuple(str(s) for s in item.get("sources") or ()),
                persona=str(item.get("persona", "")),
                examples=tuple(str(e) for e in item.get("examples") or ()),
                contact=str(item.get("contact", "")),
            )
            for item in data["domains"]
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"Cannot read the domains file {path}: {exc}") from exc
    if not domains:
        raise ConfigurationError(f"The domains file {path} defines no domains.")
    return domains


class LexicalRouter:
    """Scores each domain by TF-IDF overlap of the question with its description and examples.

    Confidence is the margin between the best and the runner-up, so a question that matches two
    domains equally is not routed confidently to either, scaled down when the best score is
    thin: one shared word ("office") is a hint, not certainty. ``sure_score`` is about two
    distinctive words of one domain.
    """

    name = "lexical"

    def __init__(
        self, domains: Sequence[Domain], *, fallback: str = "general", sure_score: float = 3.2
    ) -> None:
        self._domains = tuple(domains)
        self._fallback = fallback
        self._sure_score = sure_score
        bags = {d.name: Counter(terms(" ".join((d.name, d.description, *d.examples)))) for d in domains}
        doc_freq = Counter(t for bag in bags.values() for t in bag)
        n = len(bags)
        self._weights = {
            name: {t: (1 + math.log(c)) * math.log(1 + n / doc_freq[t]) for t, c in bag.items()}
            for name, bag in bags.items()
        }

    @property
    def domains(self) -> tuple[Domain, ...]:
        return self._domains

    def scores(self, question: str) -> list[tuple[str, float]]:
        words = set(terms(question))
        ranked = [
            (name, sum(weights.get(w, 0.0) for w in words))
            for name, weights in self._weights.items()
        ]
        return sorted(ranked, key=lambda pair: pair[1], reverse=True)

    async def route(self, question: str, history: Sequence[str] = ()) -> RouteDecision:
        ranked = self.scores(question)
        if (not ranked or ranked[0][1] == 0.0) and history:
            # A short follow-up ("and for contractors?") inherits the thread's subject.
            ranked = self.scores(" ".join((question, *history[-2:])))
        if not ranked or ranked[0][1] == 0.0:
            return RouteDecision(domains=(self._fallback,), confidence=0.0, router=self.name)
        best, best_score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        margin = (best_score - runner_up) / best_score
        confidence = margin * min(1.0, best_score / self._sure_score)
        domains = (best,) if margin >= 0.5 or runner_up == 0 else (best, ranked[1][0])
        return RouteDecision(domains=domains, confidence=confidence, router=self.name)


def search_scope(
    domains: Sequence[Domain], decision: RouteDecision, *, confident: float = 0.0
) -> tuple[str, ...]:
    """Document domains to search for ``decision``; empty means search everything.

    A decision below ``confident`` searches everything: a wrong route hides the answer
    completely, while an unfiltered search only lets other domains compete (the quality bench
    measures what a wrong route costs, docs/benchmarks.md).
    """
    if decision.confidence < confident:
        return ()
    by_name = {d.name: d for d in domains}
    sources: list[str] = []
    for name in decision.domains:
        domain = by_name.get(name)
        if domain is None or not domain.sources:
            return ()
        sources.extend(s for s in domain.sources if s not in sources)
    return tuple(sources)


class TieredRouter:
    """The fast router decides when it is sure; otherwise the slow one is asked.

    When the fast router's confidence reaches ``confident`` the slow router is never called, so
    it cannot delay the first token. Whatever goes wrong with the slow one — an error, malformed
    output, more than ``timeout`` seconds — the fast decision stands, marked ``lexical-fallback``.
    """

    name = "tiered"

    def __init__(
        self, fast: Router, slow: Router, *, confident: float = 0.6, timeout: float = 4.0
    ) -> None:
        self._fast = fast
        self._slow = slow
        self._confident = confident
        self._timeout = timeout

    async def route(self, question: str, history: Sequence[str] = ()) -> RouteDecision:
        fast = await self._fast.route(question, history)
        if fast.confidence >= self._confident:
            return fast
        try:
            async with asyncio.timeout(self._timeout):
                return await self._slow.route(question, history)
        except Exception as exc:  # noqa: BLE001 - any slow-router failure means "use the fast one"
            log.warning(
                "slow_router_failed", error=str(exc) or type(exc).__name__,
                kind=type(exc).__name__, fallback=fast.to_dict(),
            )
            return RouteDecision(
                domains=fast.domains, confidence=fast.confidence, router=f"{fast.router}-fallback"
            )
