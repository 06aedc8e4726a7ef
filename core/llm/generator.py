"""The model generator: a grounded answer, streamed, with its tokens and cost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from core.errors import ModelError
from core.generation import GenerationRequest
from core.language import language_of
from core.llm.client import Completion, ModelClient
from core.llm.pricing import PriceTable
from core.llm.prompts import Prompt, PromptBudget, grounded_prompt
from core.memo import Memo
from core.routing import Domain
from core.tokens import EstimatingCounter, TokenCounter

_ANY_CONTACT = "the team that owns the topic"


def nothing_relevant(contact: str) -> str:
    """What to say when retrieval found nothing: no guess, and where to ask instead."""
    return (
        "I couldn't find anything about that in the company documents I can search, so I "
        f"won't guess. You could ask {contact or _ANY_CONTACT}, or try again naming the "
        "policy, system or document you mean."
    )


class ModelGenerator:
    """Writes the answer with the chat model from the retrieved passages only.

    With no passages it does not call the model at all: it says nothing was found and names the
    domain's contact. It trims ``request.passages`` to what fitted the prompt, so citations are
    checked against exactly what the model saw, and fills ``request.usage`` even when the stream
    breaks (the endpoint's own count when it gives one, else ours).
    """

    name = "model"

    def __init__(
        self,
        client: ModelClient,
        *,
        domains: Sequence[Domain],
        prices: PriceTable,
        counter: TokenCounter | None = None,
        budget: PromptBudget | None = None,
        max_tokens: int | None = 800,
        temperature: float | None = 0.2,
    ) -> None:
        self._client = client
        self._contacts = {d.name: d.contact for d in domains}
        self._prices = prices
        self._counter = counter or EstimatingCounter()
        # Passages come back question after question: each is tallied once (core/memo.py).
        self._tallies = Memo(self._counter.tally)
        self._budget = budget or PromptBudget()
        self._max_tokens = max_tokens
        self._temperature = temperature

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        contact = self._contacts.get(request.route.primary or "", "")
        if not request.passages:
            yield nothing_relevant(contact)
            return
        prompt = grounded_prompt(
            question=request.question,
            passages=request.passages,
            history=request.history,
            persona=request.persona,
            contact=contact,
            counter=self._counter,
            tallies=self._tallies,
            budget=self._budget,
            strict=request.strict,
            language=language_of(request.question, request.locale),
        )
        request.passages = prompt.passages
        completion = Completion()
        produced: list[str] = []
        try:
            async for delta in self._client.stream_chat(
                prompt.messages,
                max_tokens=self._max_tokens,
                temperature=self._temperature,
                completion=completion,
                prompt_tokens=prompt.tokens,
            ):
                produced.append(delta)
                yield delta
        finally:
            self._account(request, prompt, completion, "".join(produced))
        if not produced:
            raise ModelError("The model returned an empty answer.")

    def _account(
        self, request: GenerationRequest, prompt: Prompt, completion: Completion, text: str
    ) -> None:
        if not text and completion.input_tokens is None:
            return  # nothing was generated, so nothing was billed
        usage = request.usage
        usage.model = completion.model
        input_tokens = (
            completion.input_tokens
            if completion.input_tokens is not None
            else prompt.tokens
        )
        output_tokens = (
            completion.output_tokens
            if completion.output_tokens is not None
            else self._counter.count(text)
        )
        # Added, not set: an answer asked again (grounding) pays for both attempts.
        usage.input_tokens += input_tokens
        usage.output_tokens += output_tokens
        usage.cost_usd += self._prices.cost(usage.model, input_tokens, output_tokens)
