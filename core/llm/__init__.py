"""The model layer: one openai-SDK client for chat, tool calls and moderation, and what is built
on it — the LLM router, the grounded generator, moderation, pricing and the answer cache."""

from core.llm.breaker import BreakerState, CircuitBreaker
from core.llm.cache import AnswerCache, CachedAnswer, MemoryAnswerCache, normalize_question
from core.llm.client import ModelClient, ModelLimits, build_openai_client
from core.llm.generator import ModelGenerator
from core.llm.layer import ModelLayer
from core.llm.moderation import EndpointModerator, LocalModerator, Moderator
from core.llm.pricing import PriceTable
from core.llm.router import LLMRouter

__all__ = [
    "AnswerCache",
    "BreakerState",
    "CachedAnswer",
    "CircuitBreaker",
    "EndpointModerator",
    "LLMRouter",
    "LocalModerator",
    "MemoryAnswerCache",
    "ModelClient",
    "ModelGenerator",
    "ModelLayer",
    "ModelLimits",
    "Moderator",
    "PriceTable",
    "build_openai_client",
    "normalize_question",
]
