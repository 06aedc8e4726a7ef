"""The pipeline of one question, from a ChatEvent to a finished, stored Answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import structlog

from core.answers import Answer, Citation, Grounding, Passage, RouteDecision, Usage
from core.citations import cite
from core.conversations import ConversationStore, Turn
from core.coverage import CoverageJudge, DeclinePolicy
from core.declining import HelpContacts, not_found_text
from core.errors import SwitchboardError
from core.events import ChatEvent
from core.extractive import sentence_terms
from core.follow_up import Context, FollowUpRule, reads_as_follow_up
from core.generation import GenerationRequest, Generator
from core.grounded_writer import INTERRUPTED, MODEL_DOWN, UNCHECKED, GroundedWriter, Written
from core.grounding import GroundingPolicy
from core.guard import check_question
from core.identity.people import People
from core.identity.principals import EVERYONE_SCOPE, Scope
from core.identity.scoped_cache import RestrictedDocuments, ScopedAnswerCache
from core.language import language_of
from core.limits import QuestionGate
from core.llm.cache import AnswerCache, CachedAnswer
from core.llm.moderation import Moderator
from core.memo import Memo
from core.metrics import Metrics
from core.retrieval import Retriever
from core.routing import Domain, Router, search_scope
from core.stream import ReplyStream
from core.text import terms
from core.verified import VerifiedAnswers, VerifiedMatch

log = structlog.get_logger(__name__)

__all__ = [
    "ACCESS_UNCHECKED", "FAILED", "INTERRUPTED", "MODEL_DOWN", "UNCHECKED", "Assistant",
    "AssistantLimits",
]

FAILED = "Sorry — something went wrong while I was answering. Please try again in a moment."
# In place of an earlier answer whose document the asker may no longer read.
REVOKED_TURN = "(An earlier answer here is left out: it used a document you can no longer read.)"
# Under an answer given without the restricted documents the person may be allowed to read.
ACCESS_UNCHECKED = (
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


def _earlier_questions(context: Context) -> list[str]:
    return [t.text for t in context.turns if t.role == "user"]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What steps 2-4 decided for one question: its route, and either a text to give as it is
    (``direct``: verified, clarifying, cached, not found) or the passages to answer from."""

    route: RouteDecision
    cache_domain: str = ""
    passages: Sequence[Passage] = ()
    retrieval_ms: float | None = None
    direct: str | None = None
    status: str = "complete"
    citations: Sequence[Citation] = ()
    sources: Sequence[Passage] = ()
    model: str | None = None
    verified: VerifiedMatch | None = None
    # Whether the search status went out with it.
    shown: bool = True


# The context a question that reads on its own is planned in while its conversation is read.
_NEW = Context((), follow_up=False)

_T = TypeVar("_T")


async def _recorded_while(recording: Awaitable[_T], planning: Awaitable[_Plan]) -> tuple[_T, _Plan]:
    """``recording`` and ``planning`` at the same time. The question is recorded whatever
    the planning does: when it fails, its error is raised once the recording is done."""
    recorded = asyncio.ensure_future(recording)
    try:
        plan = await planning
    except Exception:
        await recorded
        raise
    except BaseException:
        recorded.cancel()
        raise
    return await recorded, plan


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
        verified: VerifiedAnswers | None = None,
        grounding: GroundingPolicy | None = None,
        reask: bool = False,
        coverage: CoverageJudge | None = None,
        decline: DeclinePolicy | None = None,
        contacts: HelpContacts | None = None,
        people: People | None = None,
        restricted: RestrictedDocuments | None = None,
        follow_up: FollowUpRule | None = None,
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
        # A follow-up is written without earlier answers that quote what the asker may no
        # longer read (docs/knowledge.md, "History after a revocation").
        self._restricted = restricted
        # Who is asking and what they may read (core.identity); public documents without it.
        self._people = people
        # Pace and daily budgets: refused before anything is stored or generated.
        self._gate = gate
        # "I couldn't find that": without a judge every question that retrieved something
        # is answered.
        self._coverage = coverage
        self._decline = decline or DeclinePolicy()
        self._contacts = contacts or HelpContacts(
            domains, {}, "your manager, the People Team (HR) or the IT Help Hub"
        )
        # Admins' verified answers: served as written, before routing, retrieval and the model.
        self._verified = verified
        # Which questions lean on their conversation (a Teams chat is one for ever).
        self._follow_up = follow_up or FollowUpRule()
        # Each cited passage's sentences and their words, read once for every answer citing it.
        self._sentences = Memo(sentence_terms)
        # A model's answer is shown only once checked against its passages.
        self._writer = GroundedWriter(
            generator, fallback=fallback, policy=grounding, reask=reask, metrics=metrics
        )

    async def handle(self, event: ChatEvent, stream: ReplyStream) -> Answer:
        """Answer ``event`` through ``stream`` and return what was shown and stored.

        Raises ``InvalidQuestion`` or ``RateLimited`` (after telling the user through
        ``stream.fail``) when the question cannot be taken; nothing is stored then.
        """
        started = time.perf_counter()
        try:
            question = check_question(event.text, max_chars=self._limits.max_question_chars)
        except SwitchboardError as exc:
            await stream.fail(str(exc))
            raise
        follow_up = reads_as_follow_up(question)
        if not follow_up:
            # Searched as asked: its vector is requested now and comes while the asker is
            # identified and the question recorded and planned; the search and the verified
            # answer's match wait only for what is left of that request. A question refused
            # just below has cost one embeddings request then, never a model's answer.
            self._retriever.prepare(question)
        scope = EVERYONE_SCOPE
        if self._people is not None:
            event, scope = await self._people.identify(event)
        try:
            if self._gate is not None:
                await self._gate.admit(event.person, attempt=event.attempt)
            if self._moderator is not None:
                await self._moderator.screen(question)
        except SwitchboardError as exc:
            await stream.fail(str(exc))
            raise

        # 1. identity, the conversation and the question's row: one round trip. However the
        # answer goes, the question is kept, as it was before it was answered.
        recording = self._conversations.ask(
            event.person, event.thread, title=_title(question), text=question,
            event_key=event.event_key, turns=self._limits.history_turns,
            # Earlier answers are checked against what the asker may read now; without
            # restricted documents there is nothing to check.
            principals=scope.principals if self._restricted is not None else None,
        )
        # A question that reads on its own is planned (steps 2-4) while it is recorded, as if
        # its conversation were new; the plan stands when the conversation changes nothing it
        # decided. A follow-up waits for its conversation.
        ahead: _Plan | None = None
        if follow_up:
            recorded = await recording
        else:
            recorded, ahead = await _recorded_while(
                recording, self._plan(event, stream, scope, question, _NEW, tentative=True)
            )
        history = self._readable_history(recorded.history)
        context = self._follow_up.context(question, history)
        plan = await self._confirm(ahead, event, stream, scope, question, context)
        if plan.direct is None and not plan.shown:
            await stream.status(self._status_text(plan.route))
        return await self._answer(
            event, stream, started, scope, question, recorded.user.id,
            recorded.conversation_id, context, plan,
        )

    @staticmethod
    def _readable_history(history: Sequence[Turn]) -> Sequence[Turn]:
        """``history`` with each earlier answer that cites a document the asker may not read
        now (``Turn.hidden``) replaced by a note: revoked text is not quoted back."""
        if not any(t.hidden for t in history):
            return history
        return [Turn(t.role, REVOKED_TURN, t.at) if t.hidden else t for t in history]

    async def _confirm(
        self, ahead: _Plan | None, event: ChatEvent, stream: ReplyStream, scope: Scope,
        question: str, context: Context,
    ) -> _Plan:
        """``ahead`` when ``context`` would have planned the same, else a plan made with it.

        Only routing reads earlier turns for a question that is not a follow-up (the search,
        the verified answer and the cache see the question alone), so the plan stands when
        the question routes the same with them. A verified answer stands whatever the route.
        """
        if ahead is None or context.follow_up:
            return await self._plan(event, stream, scope, question, context)
        if not context.turns or ahead.verified is not None:
            return ahead
        route = await self._router.route(question, _earlier_questions(context))
        if route == ahead.route:
            return ahead
        return await self._plan(event, stream, scope, question, context, route=route)

    async def _plan(
        self, event: ChatEvent, stream: ReplyStream, scope: Scope, question: str,
        context: Context, *, route: RouteDecision | None = None, tentative: bool = False,
    ) -> _Plan:
        """Steps 2-4 for ``question`` in ``context``: a verified answer, a clarifying
        question, a cached answer or "I couldn't find that" to give as it is, or the passages
        to write an answer from. Stores nothing. Shows the search status, unless the plan is
        ``tentative`` (made before the conversation is read) and its route unsure: the
        conversation may yet give the question a subject."""
        # A follow-up leans on its thread, which the verified question never saw; a question
        # that stands on its own gets the verified answer however long the chat.
        if self._verified is not None and not context.follow_up:
            found = await self._verified.match(question, scope)
            if found is not None:
                return _Plan(found.route, direct=found.text, status="verified", verified=found)

        # 2-3. route
        if route is None:
            route = await self._router.route(question, _earlier_questions(context))
        if route.clarification:
            # Unsure what the user means: ask them, rather than answer a guess.
            return _Plan(route, direct=route.clarification)
        # An answer is written in the asker's language: askers of another share no entry.
        language = language_of(question, event.locale)
        cache_domain = (route.primary or "") + (f"~{language}" if language else "")
        # The cache knows standalone questions only: a follow-up depends on its thread, and an
        # answer written with the conversation in view is not kept for others.
        if self._cache is not None and not context.follow_up:
            hit = await self._cache.get(cache_domain, question, scope)
            if hit is not None:
                return _Plan(
                    route, cache_domain, direct=hit.text, citations=hit.citations,
                    sources=hit.sources, model="cache",
                )
        shown = not tentative or route.confidence >= _CONFIDENT
        if shown:
            await stream.status(self._status_text(route))

        # 4. retrieve
        retrieval_started = time.perf_counter()
        # Only a follow-up is searched with the question before it: a short question on its own
        # ("How do I reset my password?") is searched as in a new chat.
        query = _search_query(question, context.turns if context.follow_up else ())
        domains = search_scope(self._domains, route) if route.confidence >= _CONFIDENT else ()
        passages = await self._retriever.search(
            query, k=self._limits.retrieval_k, domains=domains, principals=scope.principals
        )
        if not passages and domains:
            passages = await self._retriever.search(
                query, k=self._limits.retrieval_k, principals=scope.principals
            )
        retrieval_ms = (time.perf_counter() - retrieval_started) * 1000
        uncovered = await self._uncovered(query, passages, language)
        if uncovered and domains:
            # A route narrows the search; only the whole index can say the documents are silent.
            again = time.perf_counter()
            passages = await self._retriever.search(
                query, k=self._limits.retrieval_k, principals=scope.principals
            )
            retrieval_ms += (time.perf_counter() - again) * 1000
            uncovered = await self._uncovered(query, passages, language)
        if uncovered:
            # Nothing retrieved is about the question: say so and where to ask, show no
            # passages, call no model; stored as not_found for the admins' list.
            text = not_found_text(self._contacts.for_domain(route.primary), language)
            if not scope.checked:
                # Maybe it is in a document this person may read that could not be checked.
                text += ACCESS_UNCHECKED
            return _Plan(
                route, cache_domain, direct=text, status="not_found", retrieval_ms=retrieval_ms
            )
        return _Plan(
            route, cache_domain, passages=passages, retrieval_ms=retrieval_ms, shown=shown
        )

    async def _answer(
        self, event: ChatEvent, stream: ReplyStream, started: float, scope: Scope,
        question: str, user_id: int, conversation_id: int, context: Context, plan: _Plan,
    ) -> Answer:
        """Steps 5-8 of ``handle``, once the question is recorded and planned."""
        route, passages, retrieval_ms = plan.route, plan.passages, plan.retrieval_ms
        if plan.direct is not None:
            answer = await self._answer_directly(
                event, user_id, conversation_id, route, plan.direct, stream, started,
                citations=plan.citations, sources=plan.sources, model=plan.model,
                status=plan.status, retrieval_ms=retrieval_ms,
            )
            if plan.verified is not None:
                assert self._verified is not None
                await self._verified.used(plan.verified, answer.message_id)
            return answer
        history = context.turns
        # Only an answer written without a conversation in view is kept for others.
        keep = self._cache is not None and not context.follow_up and not history
        cache_domain = plan.cache_domain

        # 5-6. generate and stream
        request = GenerationRequest(
            question=question,
            passages=passages,
            route=route,
            history=history,
            persona=self._personas.get(route.primary or "", ""),
            locale=event.locale,
        )
        parts: list[str] = []
        if passages:
            # Shown while the model reads: on a slow endpoint that is many seconds.
            await stream.status(f"Reading {len(passages)} passage{'s' if len(passages) != 1 else ''}…")
        written = await self._generate(request, stream, parts, started)
        status, fell_back, ttft_ms = written.status, written.fell_back, written.ttft_ms
        if not scope.checked and status != "failed":
            parts.append(ACCESS_UNCHECKED)
            await stream.append(ACCESS_UNCHECKED)

        # 7. finish (citations are checked against the passages the generator actually used)
        text, citations = cite(question, "".join(parts), request.passages, self._sentences)
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
            grounding=written.grounding,
        )
        usage.total_ms = (time.perf_counter() - started) * 1000

        # 8. persist, then show the final form (the answer now has its id for feedback).
        answer.message_id = await self._conversations.add_answer(
            conversation_id, answer, user_id=user_id, event_key=event.event_key
        )
        if status != "failed":
            await stream.finish(answer)
        else:
            await stream.fail(FAILED)
        if (
            keep
            and status == "complete"
            and not fell_back
            and written.grounding.grounded
            and scope.checked
        ):
            assert self._cache is not None
            await self._cache.put(
                cache_domain,
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
    ) -> Written:
        """Stream the checked answer into ``parts`` and ``stream`` (``core/grounded_writer.py``).

        No text at all from the generator (model down, timed out, circuit open) means the
        fallback answers under a one-line notice; an answer that cites nothing is asked again
        or replaced by the passages before any of it is shown. A stream that breaks after text
        was shown is finished with a note and marked ``incomplete``; nothing shown is taken back.
        """
        return await self._writer.write(request, stream, parts, started)

    async def _uncovered(
        self, query: str, passages: Sequence[Passage], language: str | None
    ) -> bool:
        if self._coverage is None:
            return False
        if not passages:
            return True
        if language is not None and self._decline.by_meaning:
            return False
        coverage = await self._coverage.measure(query, passages[: self._decline.top])
        log.debug("coverage", share=round(coverage.share, 3))
        return not self._decline.covered(coverage)

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
        status: str = "complete",
        retrieval_ms: float | None = None,
    ) -> Answer:
        """Show and store ``text`` as the answer without generating: a clarifying question,
        an answer from the cache, a verified answer, or a question the documents don't cover
        (``not_found``)."""
        await stream.append(text)
        elapsed = (time.perf_counter() - started) * 1000
        answer = Answer(
            text=text,
            citations=list(citations),
            route=route,
            sources=list(sources),
            usage=Usage(model=model, ttft_ms=elapsed, total_ms=elapsed, retrieval_ms=retrieval_ms),
            status=status,
            conversation_id=conversation_id,
            # Only checked answers are cached, and an admin vouches for a verified one; a
            # clarifying question claims nothing.
            grounding=Grounding(grounded=model == "cache" or status == "verified", check="direct"),
        )
        answer.usage.add_route(route)
        answer.message_id = await self._conversations.add_answer(
            conversation_id, answer, user_id=user_id, event_key=event.event_key
        )
        await stream.finish(answer)
        if self._metrics is not None:
            self._observe(answer)
        # A declined question closes with the same "answered" line as any answer (its status
        # says not_found), so following an event in the logs ends the same way.
        log.info(
            "answered" if status == "not_found" else "answered_directly",
            conversation_id=conversation_id, message_id=answer.message_id,
            route=route.to_dict(), model=model, event_key=event.event_key, status=status,
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
