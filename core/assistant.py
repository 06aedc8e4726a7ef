"""The pipeline of one question, from a ChatEvent to a finished, stored Answer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from core.answers import Answer, RouteDecision
from core.citations import cite
from core.conversations import ConversationStore, Turn
from core.errors import SwitchboardError
from core.events import ChatEvent
from core.generation import GenerationRequest, Generator
from core.guard import check_question
from core.metrics import Metrics
from core.retrieval import Retriever
from core.routing import Domain, Router, search_scope
from core.stream import ReplyStream
from core.text import terms

log = structlog.get_logger(__name__)

FAILED = "Sorry — something went wrong while I was answering. Please try again in a moment."
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
    ) -> None:
        self._conversations = conversations
        self._router = router
        self._retriever = retriever
        self._generator = generator
        self._domains = tuple(domains)
        self._personas = {d.name: d.persona for d in domains}
        self._limits = limits
        self._metrics = metrics

    async def handle(self, event: ChatEvent, stream: ReplyStream) -> Answer:
        """Answer ``event`` through ``stream`` and return what was shown and stored.

        Raises ``InvalidQuestion`` (after telling the user through ``stream.fail``) when the
        question cannot be taken; nothing is stored then.
        """
        started = time.perf_counter()
        try:
            question = check_question(event.text, max_chars=self._limits.max_question_chars)
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
        await stream.status(self._status_text(route))

        # 4. retrieve
        retrieval_started = time.perf_counter()
        query = _search_query(question, history)
        scope = search_scope(self._domains, route) if route.confidence >= _CONFIDENT else ()
        passages = await self._retriever.search(query, k=self._limits.retrieval_k, domains=scope)
        if not passages and scope:
            passages = await self._retriever.search(query, k=self._limits.retrieval_k)
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
        ttft_ms: float | None = None
        status = "complete"
        try:
            async for delta in self._generator.stream(request):
                if not delta:
                    continue
                if ttft_ms is None:
                    ttft_ms = (time.perf_counter() - started) * 1000
                parts.append(delta)
                await stream.append(delta)
        except Exception:
            log.exception("generation_failed", conversation_id=conversation_id)
            status = "failed"

        # 7. finish
        text, citations = cite(question, "".join(parts), passages)
        usage = request.usage
        usage.retrieval_ms = retrieval_ms
        usage.ttft_ms = ttft_ms
        answer = Answer(
            text=text if status == "complete" else (text or FAILED),
            citations=citations,
            route=route,
            sources=list(passages),
            usage=usage,
            status=status,
            conversation_id=conversation_id,
        )
        usage.total_ms = (time.perf_counter() - started) * 1000

        # 8. persist, then show the final form (the answer now has its id for feedback).
        answer.message_id = await self._conversations.add_answer(conversation_id, answer)
        if status == "complete":
            await stream.finish(answer)
        else:
            await stream.fail(FAILED)
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

    def _status_text(self, route: RouteDecision) -> str:
        labels = {"hr": "HR", "it": "IT", "documents": "policy"}
        if route.confidence >= _CONFIDENT and route.primary in labels:
            return f"Searching {labels[route.primary]} documents…"
        return "Searching company documents…"
