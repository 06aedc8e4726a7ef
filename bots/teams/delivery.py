"""Sending and editing activities in one conversation, retrying what Teams asks us to retry.

Teams answers 429 when a bot goes faster than it allows (per conversation about 7 operations a
second and 60 in 30 seconds), 412 when edits cross, and 502/504 when a backend hiccups. Those
are retried with exponential backoff and full jitter, honouring ``Retry-After``; anything else
is raised at once as ``PlatformError``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import structlog
from botbuilder.core import TurnContext
from botbuilder.schema import Activity
from msrest.exceptions import ClientRequestError, HttpOperationError

from core.errors import PlatformError

log = structlog.get_logger(__name__)

RETRYABLE = frozenset({412, 429, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to wait before trying a refused call again."""

    attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # Teams said how long; a little jitter keeps parallel answers from returning together.
            return min(retry_after, self.cap_s) + random.uniform(0, self.base_s)
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


def _retry_after(headers: object) -> float | None:
    value = getattr(headers, "get", lambda _: None)("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def as_platform_error(exc: Exception) -> PlatformError:
    """The Bot Connector's refusal in our terms: status, Teams' error code, Retry-After."""
    if isinstance(exc, HttpOperationError):
        response = exc.response
        status = getattr(response, "status_code", None)
        error = getattr(getattr(exc, "error", None), "error", None)
        code = getattr(error, "code", None)
        message = getattr(error, "message", None) or str(exc)
        return PlatformError(
            f"Teams answered {status}: {message}",
            status=status,
            code=code,
            retry_after=_retry_after(getattr(response, "headers", None)),
        )
    return PlatformError(f"Teams could not be reached: {exc}")


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str) -> T:
    """Run ``call``; on a retryable refusal wait and run it again, up to ``policy.attempts``."""
    attempt = 0
    while True:
        try:
            return await call()
        except (TimeoutError, HttpOperationError, ClientRequestError, aiohttp.ClientError) as exc:
            error = as_platform_error(exc)
            network = error.status is None
            attempt += 1
            if not (network or error.status in RETRYABLE) or attempt >= policy.attempts:
                raise error from exc
            delay = policy.delay(attempt, error.retry_after)
            log.info(
                "teams_call_retry",
                call=what,
                status=error.status,
                attempt=attempt,
                delay_s=round(delay, 2),
            )
            await asyncio.sleep(delay)


class Outbox:
    """Sends, replies to and edits activities of the conversation a ``TurnContext`` is about.

    Goes through botbuilder (``TurnContext.send_activity`` / ``update_activity``), so the
    activities are addressed the way the SDK addresses replies: to the user, in the thread.
    """

    def __init__(self, context: TurnContext, *, retry: RetryPolicy = RetryPolicy()) -> None:
        self._context = context
        self._retry = retry
        self.calls = 0

    @property
    def conversation_id(self) -> str:
        return self._context.activity.conversation.id

    async def send(self, activity: Activity) -> str:
        """Post ``activity``; return the id Teams gave it."""

        async def call() -> str:
            self.calls += 1
            response = await self._context.send_activity(activity)
            return response.id if response is not None and response.id else ""

        return await with_retries(call, self._retry, "send")

    async def update(self, activity_id: str, activity: Activity) -> None:
        """Replace the text (and entities) of the message ``activity_id``."""
        activity.id = activity_id

        async def call() -> None:
            self.calls += 1
            await self._context.update_activity(activity)

        await with_retries(call, self._retry, "update")
