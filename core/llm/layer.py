"""Assembles the model-backed parts from settings — only the ones whose settings are given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from core.llm.client import ModelClient
from core.llm.generator import ModelGenerator
from core.llm.moderation import EndpointModerator, LocalModerator, Moderator
from core.llm.pricing import PriceTable
from core.llm.prompts import PromptBudget
from core.llm.router import LLMRouter
from core.routing import Domain, LexicalRouter, Router, TieredRouter
from core.settings import Settings
from core.tokens import TokenCounter, load_counter_async


def endpoint_configured(settings: Settings) -> bool:
    return bool(settings.openai_base_url or settings.openai_api_key)


@dataclass(slots=True)
class ModelLayer:
    """The client and what uses it. ``router`` and ``generator`` are None without a chat model
    (the offline lexical router and extractive answerer stay); ``moderator`` is None when
    moderation is switched off. Close with ``aclose()``."""

    client: ModelClient | None
    router: Router | None
    generator: ModelGenerator | None
    moderator: Moderator | None
    counter: TokenCounter | None = None

    @classmethod
    async def start(cls, settings: Settings, domains: Sequence[Domain]) -> Self:
        endpoint = endpoint_configured(settings)
        wants_moderation = settings.moderation_enabled and bool(settings.moderation_model)
        client = (
            ModelClient.from_settings(settings)
            if endpoint and (settings.chat_model or wants_moderation)
            else None
        )
        if client is not None:
            await client.warm()
        router = generator = counter = None
        prices = PriceTable(settings.model_prices)
        if client is not None and settings.chat_model:
            counter = await load_counter_async(settings.chat_model)
            router = TieredRouter(
                LexicalRouter(domains),
                LLMRouter(client, domains, model=settings.router_model, prices=prices),
                confident=settings.router_fast_confidence,
                timeout=settings.router_timeout,
            )
            generator = ModelGenerator(
                client,
                domains=domains,
                prices=prices,
                counter=counter,
                budget=PromptBudget(
                    history_tokens=settings.history_tokens, passage_tokens=settings.passage_tokens
                ),
                max_tokens=settings.max_answer_tokens,
                temperature=settings.temperature,
            )
        moderator: Moderator | None = None
        if settings.moderation_enabled:
            local = LocalModerator(settings.moderation_blocklist)
            moderator = (
                EndpointModerator(client, model=settings.moderation_model, local=local)
                if client is not None and settings.moderation_model
                else local
            )
        return cls(
            client=client, router=router, generator=generator, moderator=moderator, counter=counter
        )

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
