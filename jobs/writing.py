"""Short texts from the chat model for jobs: the protocol they need and a helper to call it.

Jobs use ``core.llm.client.ModelClient`` (retries, timeouts, circuit breaker) through the one
method they need, so a test or a deployment can pass any object with that method.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

Message = dict[str, Any]


class ChatModel(Protocol):
    """What jobs need of the model client: a streamed chat completion."""

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[str]: ...


async def complete(model: ChatModel, system: str, user: str, *, max_tokens: int) -> str:
    """The whole reply to one system + user message pair. Raises the client's ``ModelError``."""
    parts = [
        delta
        async for delta in model.stream_chat(
            [{"role": "system", "content": system}, {"role": "user", "content": user}],
            max_tokens=max_tokens,
            temperature=0.2,
        )
    ]
    return "".join(parts).strip()


_JSON_START = re.compile(r"[\[{]")


def json_list(text: str, key: str) -> list[Any] | None:
    """The list a model returned, as ``{"key": [...]}`` or a bare ``[...]``, inside any chatter
    or code fence around it; ``None`` when there is none."""
    decoder = json.JSONDecoder()
    for match in _JSON_START.finditer(text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get(key), list):
            return list(value[key])
        if isinstance(value, list):
            return value
    return None
