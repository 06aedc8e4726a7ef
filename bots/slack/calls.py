"""Every Slack Web API call the adapter makes goes through ``SlackCalls``: paced, 429-safe."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bots.slack.metrics import SlackMetrics
from bots.slack.pacing import NEVER, SlackPacer

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Which budget the call in flight spends, so the SDK's retry handler can close it for everyone.
_SPENDING: contextvars.ContextVar[tuple[str, str, str | None] | None] = contextvars.ContextVar(
    "slack_budget", default=None
)


def retry_after(response: HttpResponse | None) -> float:
    if response is None:
        return 1.0
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(1.0, float(values[0]))
            except ValueError:
                break
    return 1.0


class PacedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (waits ``Retry-After``, then retries) that also closes the
    method's budget in the whole workspace for that long, so other streams wait instead of
    collecting 429s of their own."""

    def __init__(
        self, pacer: SlackPacer, *, max_retry_count: int = 3, metrics: SlackMetrics | None = None
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._pacer = pacer
        self._metrics = metrics
        self.seen = 0

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        self.seen += 1
        spending = _SPENDING.get()
        if spending is not None and response is not None:
            team_id, method, channel = spending
            if self._metrics is not None:
                self._metrics.call(method, "ratelimited")  # absorbed here, still counted
            await self._pacer.hold_off(team_id, method, retry_after(response), channel=channel)
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


class SlackCalls:
    """Makes Web API calls for one workspace at a time, inside its pacing budget.

    ``api`` calls a method with JSON parameters; ``paced`` runs any SDK coroutine (a chat
    stream's ``append``/``stop``, ``files_upload_v2``) under a method's budget. A 429 the SDK
    could not absorb closes the budget for ``Retry-After`` and the call is tried again, up to
    ``attempts`` times.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        pacer: SlackPacer,
        *,
        metrics: SlackMetrics | None = None,
        attempts: int = 6,
    ) -> None:
        self.client = client
        self.pacer = pacer
        self.metrics = metrics
        self._attempts = attempts
        # Workspaces where chat.startStream is not available (plan, admin policy, old client).
        self.streaming_unavailable: set[str] = set()

    async def reserve(
        self,
        team_id: str,
        method: str,
        *,
        channel: str | None = None,
        max_wait: float = NEVER,
        keep: int = 0,
    ) -> float | None:
        return await self.pacer.reserve(
            team_id, method, channel=channel, max_wait=max_wait, keep=keep
        )

    async def paced(
        self,
        team_id: str,
        method: str,
        call: Callable[[], Awaitable[T]],
        *,
        channel: str | None = None,
        reserved: bool = False,
    ) -> T:
        """Run ``call`` once a slot of ``method``'s budget is free (``reserved``: the caller
        already waited for one)."""
        for attempt in range(1, self._attempts + 1):
            if not reserved or attempt > 1:
                await self.pacer.acquire(team_id, method, channel=channel)
            token = _SPENDING.set((team_id, method, channel))
            try:
                result = await call()
                self._count(method, "ok")
                return result
            except SlackApiError as exc:
                limited = exc.response.status_code == 429
                self._count(method, "ratelimited" if limited else "error")
                if not limited or attempt == self._attempts:
                    raise
                wait = retry_after_of(exc)
                await self.pacer.hold_off(team_id, method, wait, channel=channel)
            finally:
                _SPENDING.reset(token)
        raise AssertionError("unreachable")

    def _count(self, method: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.call(method, outcome)

    async def api(
        self,
        team_id: str,
        method: str,
        *,
        token: str | None,
        budget_channel: str | None = None,
        reserved: bool = False,
        form: bool = False,
        **params: Any,
    ) -> AsyncSlackResponse:
        """Call ``method`` with ``params`` using ``token``: as JSON, or form-encoded for the
        read methods that take no JSON (``form``)."""
        body = {k: v for k, v in params.items() if v is not None}
        channel = budget_channel or (
            params.get("channel") if method == "chat.postMessage" else None
        )
        if form:
            headers = {"Authorization": f"Bearer {token}"} if token else None
            call = lambda: self.client.api_call(method, data=dict(body), headers=headers)
        else:
            if token:
                body["token"] = token
            call = lambda: self.client.api_call(method, json=dict(body))
        return await self.paced(team_id, method, call, channel=channel, reserved=reserved)

    async def try_api(self, team_id: str, method: str, **kwargs: Any) -> AsyncSlackResponse | None:
        """``api`` for calls that may fail without harm (status, titles): logs and returns None."""
        try:
            return await self.api(team_id, method, **kwargs)
        except (TimeoutError, SlackApiError, OSError) as exc:
            log.warning("slack_call_failed", method=method, error=describe(exc))
            return None

    async def if_room(
        self, team_id: str, method: str, **kwargs: Any
    ) -> AsyncSlackResponse | None:
        """``try_api`` for a nicety (a status, a title, a time zone): made only when the
        workspace's budget has room right now, never queued for; None when skipped or failed."""
        if await self.reserve(team_id, method, max_wait=0) is None:
            return None
        return await self.try_api(team_id, method, reserved=True, **kwargs)


def retry_after_of(exc: SlackApiError) -> float:
    headers = exc.response.headers or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(1.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                break
    return 1.0


def describe(exc: BaseException) -> str:
    """A log-safe description of a failed call: Slack's error code, never the request."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return type(exc).__name__


def slack_error(exc: BaseException) -> str | None:
    return str(exc.response.get("error")) if isinstance(exc, SlackApiError) else None
