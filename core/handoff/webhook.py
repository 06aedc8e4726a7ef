"""The ticketing webhook: the hand-off's JSON, signed with a shared secret, POSTed with retries.

Signed like Slack signs its requests: ``X-Switchboard-Signature: v1=<hex>``, the HMAC-SHA256
of ``v1:<X-Switchboard-Timestamp>:<body>`` with the shared secret. ``X-Switchboard-Delivery``
is the ticket id, the same on every retry, so a receiver can drop duplicates. A 2xx is
delivered; a 4xx other than 408/429 is given up at once (retrying cannot fix it); the rest
are retried with exponential backoff and jitter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import aiohttp
import structlog
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from core.handoff.ticket import HandoffTicket

log = structlog.get_logger(__name__)

RETRIED_STATUSES = frozenset({408, 429})


class _TryAgain(Exception):
    pass


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex>``: what a receiver recomputes to trust the body."""
    base = b"v1:" + timestamp.encode() + b":" + body
    return "v1=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class WebhookSender:
    """POSTs tickets to one URL. Owns its HTTP session: ``await aclose()``."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout_s: float = 10.0,
        attempts: int = 5,
        max_wait_s: float = 30.0,
    ) -> None:
        self.url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = attempts
        self._max_wait_s = max_wait_s
        self._session: aiohttp.ClientSession | None = None

    async def send(self, ticket: HandoffTicket) -> bool:
        """Deliver ``ticket``; False when every attempt failed (logged, never raised)."""
        body = json.dumps(ticket.to_json(), ensure_ascii=False).encode()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=0.5, max=self._max_wait_s),
            retry=retry_if_exception_type(_TryAgain),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(ticket.id, body)
        except RetryError as exc:
            log.warning(
                "handoff_webhook_gave_up", ticket=ticket.id, error=str(exc.last_attempt.exception())
            )
            return False
        except _GiveUp as exc:
            log.warning("handoff_webhook_refused", ticket=ticket.id, status=exc.status)
            return False
        return True

    async def _post(self, delivery: str, body: bytes) -> None:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Switchboard-Handoff/1",
            "X-Switchboard-Delivery": delivery,
            "X-Switchboard-Timestamp": timestamp,
            "X-Switchboard-Signature": signature(self._secret, timestamp, body),
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _TryAgain(f"{type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status not in RETRIED_STATUSES:
            raise _GiveUp(status)
        raise _TryAgain(f"HTTP {status}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _GiveUp(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
