"""The pipeline of one question, from a ChatEvent to a finished, stored Answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import structlog

from core.answers import Answer, Citation, Passage, RouteDecision, Usage
from core.citations import cite
from core.conversations import ConversationStore, Turn
from core.errors import SwitchboardError
from core.events import ChatEvent
from core.generation import GenerationRequest, Generator
from core.guard import check_question
from core.identity.people import People
from core.identity.principals import EVERYONE_SCOPE
from core.identity.scoped_cache import RestrictedDocuments, ScopedAnswerCache
from core.limits import QuestionGate
from core.llm.cache import AnswerCache, CachedAnswer
from core.llm.moderation import Moderator
from core.metrics import Metrics
from core.retrieval import Retriever
from core.routing import Domain, Router, search_scope
from core.stream import ReplyStream
from core.text import terms

log = structlog.get_logger(__name__)

FAILED = "Sorry — something went wrong while I was answering. Please try again in a moment."
# Shown above the extractive answer when the model gives none, and under a broken stream.
MODEL_DOWN = (
    "_The language model isn't responding right now, so here are the most relevant passages "
    "from the company documents instead._\n\n"
)
INTERRUPTED = (
    "\n\n_(This answer was cut off because the language model stopped responding. "
    "Ask again for the complete answer.)_"
)
# Under an answer given without the restricted documents the person may be allowed to read.
UNCHECKED = (
    "\n\n_Some sources could not be checked for your access just now, so documents shared "
    "with only some people were left out of this answer._"
)
_CONFIDENT = 0.5


@dataclass(frozen=True, slots=True)
class AssistantLimits:
    max_question_chars: int = 4000
    history_turns: int = 10
    retrieval_k: int = 5


def _title(question: str) -> str:
    first_line = question.splitlines()[0]
    return first_line if len(first_line) <= 80 else first_line[:79].rstrip() + "…"


def _search_query(question: str, history: Sequence[Turn]) -> str:
    """A short follow-up ("and for contractors?") is searched with the question before it."""
    if len(terms(question)) > 3:
        return question
    earlier = [t.text for t in history if t.role == "user"]
    return f"{earlier[-1]} {question}" if earlier else question


class Assistant:
    """Answers one question at a time: identity, guard, route, retrieve, generate, stream,
    finish, persist. Every step is a seam another implementation can take over."""

    def __init__(
        self,
        *,
        conversations: ConversationStore,
        router: Router,
        retriever: Retriever,
        generator: Generator,
        domains: Sequence[Domain],
        limits: AssistantLimits = AssistantLimits(),
        metrics: Metrics | None = None,
        fallback: Generator | None = None,
        moderator: Moderator | None = None,
        cache: AnswerCache | None = None,
        gate: QuestionGate | None = None,
        people: People | None = None,
        restricted: RestrictedDocuments | None = None,
    ) -> None:
        self._conversations = conversations
        self._router = router
        self._retriever = retriever
        self._generator = generator
        self._domains = tuple(domains)
        self._personas = {d.name: d.persona for d in domains}
        self._limits = limits
        self._metrics = metrics
        # Answers when the generator gives nothing at all (the model is down).
        self._fallback = fallback
        self._moderator = moderator
        # Answers are cached per audience: restricted text never reaches an outsider.
        self._cache = ScopedAnswerCache(cache, restricted) if cache is not None else None
        # Who is asking and what they may read (core.identity); public documents without it.
        self._people = people
        # Pace and daily budgets: refused before anything is stored or generated.
        self._gate = gate

    async def handle(self, event: ChatEvent, stream: ReplyStream) -> Answer:
        """Answer ``event`` through ``stream`` and return what was shown and stored.

        Raises ``InvalidQuestion`` or ``RateLimited`` (after telling the user through
        ``stream.fail``) when the question cannot be taken; nothing is stored then.
        """
        started = time.perf_counter()
        scope = EVERYONE_SCOPE
        if self._people is not None:
            event, scope = await self._people.identify(event)
        try:
            question = check_question(event.text, max_chars=self._limits.max_question_chars)
            if self._gate is not None:
                await self._gate.admit(event.person, attempt=event.attempt)
            if self._moderator is not None:
                await self._moderator.screen(question)
        except SwitchboardError as exc:
            await stream.fail(str(exc))
            raise

        # 1. identity
        user = await self._conversations.upsert_user(event.person)
        conversation_id = await self._conversations.open_conversation(
            event.thread, user.id, _title(question)
        )
        history = await self._conversations.recent_turns(
            conversation_id, self._limits.history_turns
        )
        await self._conversations.add_question(conversation_id, user.id, question, event.event_key)

        # 2-3. route
        earlier_questions = [t.text for t in history if t.role == "user"]
        route = await self._router.route(question, earlier_questions)
        if route.clarification:
            # Unsure what the user means: ask them, rather than answer a guess.
            return await self._answer_directly(
                event, user.id, conversation_id, route, route.clarification, stream, started
            )
        # The cache knows standalone questions only: a follow-up depends on its thread.
        cacheable = self._cache is not None and not history
        if cacheable:
            assert self._cache is not None
            hit = await self._cache.get(route.primary or "", question, scope)
            if hit is not None:
                return await self._answer_directly(
                    event, user.id, conversation_id, route, hit.text, stream, started,
                    citations=hit.citations, sources=hit.sources, model="cache",
                )
        await stream.status(self._status_text(route))

        # 4. retrieve
        retrieval_started = time.perf_counter()
        query = _search_query(question, history)
        domains = search_scope(self._domains, route) if route.confidence >= _CONFIDENT else ()
        passages = await self._retriever.search(
            query, k=self._limits.retrieval_k, domains=domains, principals=scope.principals
        )
        if not passages and domains:
            passages = await self._retriever.search(
                query, k=self._limits.retrieval_k, principals=scope.principals
            )
        retrieval_ms = (time.perf_counter() - retrieval_started) * 1000

        # 5-6. generate and stream
        request = GenerationRequest(
            question=question,
            passages=passages,
            route=route,
            history=history,
            persona=self._personas.get(route.primary or "", ""),
        )
        parts: list[str] = []
        status, fell_back, ttft_ms = await self._generate(request, stream, parts, started)
        if not scope.checked and status != "failed":
            parts.append(UNCHECKED)
            await stream.append(UNCHECKED)

        # 7. finish (citations are checked against the passages the generator actually used)
        text, citations = cite(question, "".join(parts), request.passages)
        usage = request.usage
        usage.add_route(route)
        usage.retrieval_ms = retrieval_ms
        usage.ttft_ms = ttft_ms
        answer = Answer(
            text=text if status != "failed" else (text or FAILED),
            citations=citations,
            route=route,
            sources=list(request.passages),
            usage=usage,
            status=status,
            conversation_id=conversation_id,
        )
        usage.total_ms = (time.perf_counter() - started) * 1000

        # 8. persist, then show the final form (the answer now has its id for feedback).
        answer.message_id = await self._conversations.add_answer(
            conversation_id, answer, user_id=user.id
        )
        if status != "failed":
            await stream.finish(answer)
        else:
            await stream.fail(FAILED)
        if cacheable and status == "complete" and not fell_back and scope.checked:
            assert self._cache is not None
            await self._cache.put(
                route.primary or "",
                question,
                scope,
                CachedAnswer(
                    text=answer.text, citations=tuple(citations),
                    sources=tuple(answer.sources), model=usage.model,
                ),
            )
        if self._metrics is not None:
            self._observe(answer)
        log.info(
            "answered",
            conversation_id=conversation_id,
            message_id=answer.message_id,
            route=route.to_dict(),
            passages=len(passages),
            citations=len(citations),
            status=status,
            ttft_ms=round(ttft_ms or 0, 1),
            total_ms=round(usage.total_ms, 1),
        )
        return answer

    async def _generate(
        self, request: GenerationRequest, stream: ReplyStream, parts: list[str], started: float
    ) -> tuple[str, bool, float | None]:
        """Stream the answer into ``parts`` and ``stream``; return (status, fell back, ttft ms).

        No text at all from the generator (model down, timed out, circuit open) means the
        fallback answers under a one-line notice. A stream that breaks after text was shown is
        finished with a note and marked ``incomplete``; nothing shown is taken back.
        """
        ttft: list[float] = []

        async def pump(deltas: AsyncIterator[str]) -> None:
            async for delta in deltas:
                if not delta:
                    continue
                if not ttft:
                    ttft.append((time.perf_counter() - started) * 1000)
                parts.append(delta)
                await stream.append(delta)

        try:
            await pump(self._generator.stream(request))
            return "complete", False, ttft[0] if ttft else None
        except Exception as exc:
            if parts:
                log.warning("generation_interrupted", error=str(exc), chars=sum(map(len, parts)))
                parts.append(INTERRUPTED)
                await stream.append(INTERRUPTED)
                return "incomplete", False, ttft[0] if ttft else None
            if self._fallback is None:
                log.exception("generation_failed")
                return "failed", False, None
            log.warning("generation_unavailable", error=str(exc), fallback=self._fallback.name)

        async def with_notice() -> AsyncIterator[str]:
            yield MODEL_DOWN
            async for delta in self._fallback.stream(request):  # type: ignore[union-attr]
                yield delta

        try:
            await pump(with_notice())
        except Exception:
            log.exception("fallback_failed")
            return "failed", True, ttft[0] if ttft else None
        return "complete", True, ttft[0] if ttft else None

    async def _answer_directly(
        self,
        event: ChatEvent,
        user_id: int,
        conversation_id: int,
        route: RouteDecision,
        text: str,
        stream: ReplyStream,
        started: float,
        *,
        citations: Sequence[Citation] = (),
        sources: Sequence[Passage] = (),
        model: str | None = None,
    ) -> Answer:
        """Show and store ``text`` as the answer without retrieving or generating: a
        clarifying question, or an answer from the cache."""
        await stream.append(text)
        elapsed = (time.perf_counter() - started) * 1000
        answer = Answer(
            text=text,
            citations=list(citations),
            route=route,
            sources=list(sources),
            usage=Usage(model=model, ttft_ms=elapsed, total_ms=elapsed),
            conversation_id=conversation_id,
        )
        answer.usage.add_route(route)
        answer.message_id = await self._conversations.add_answer(
            conversation_id, answer, user_id=user_id
        )
        await stream.finish(answer)
        if self._metrics is not None:
            self._observe(answer)
        log.info(
            "answered_directly", conversation_id=conversation_id, message_id=answer.message_id,
            route=route.to_dict(), model=model, event_key=event.event_key,
        )
        return answer

    def _observe(self, answer: Answer) -> None:
        assert self._metrics is not None
        usage = answer.usage
        self._metrics.answers.labels(outcome=answer.status).inc()
        if usage.ttft_ms is not None:
            self._metrics.time_to_first_token.observe(usage.ttft_ms / 1000)
        if usage.retrieval_ms is not None:
            self._metrics.retrieval_duration.observe(usage.retrieval_ms / 1000)
        if usage.total_ms is not None:
            self._metrics.answer_duration.observe(usage.total_ms / 1000)
        if usage.model and usage.model != "cache":
            self._metrics.model_tokens.labels(model=usage.model, kind="input").inc(
                usage.input_tokens
            )
            self._metrics.model_tokens.labels(model=usage.model, kind="output").inc(
                usage.output_tokens
            )
            self._metrics.model_cost.labels(model=usage.model).inc(float(usage.cost_usd))

    def _status_text(self, route: RouteDecision) -> str:
        labels = {"hr": "HR", "it": "IT", "documents": "policy"}
        if route.confidence >= _CONFIDENT and route.primary in labels:
            return f"Searching {labels[route.primary]} documents…"
        return "Searching company documents…"
