"""Readiness: can this replica take traffic, and if not, why not.

The database is checked always, Redis when ``REDIS_URL`` is set, the model endpoint when a
model is configured. Only the checks named in ``SWITCHBOARD_READINESS_REQUIRES`` (default: the
database) make a replica "not ready"; the others report "degraded". A dependency every replica
shares (Redis, a hosted model) failing would otherwise take *all* replicas out of the load
balancer at once, although the bot keeps answering on in-process fallbacks and extractive answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bots.runtime import Runtime

OK = "ok"
_OPENAI = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class Readiness:
    """One round of checks: each dependency's state in words, and which of them are required."""

    checks: dict[str, str]
    required: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        if any(self.checks.get(name, OK) != OK for name in self.required):
            return "not ready"
        return "ready" if all(v == OK for v in self.checks.values()) else "degraded"

    @property
    def http_status(self) -> int:
        return 503 if self.status == "not ready" else 200

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checks": self.checks, "required": list(self.required)}


def _reason(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"unavailable: no answer within {timeout_s:g} s"
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"unavailable: {type(exc).__name__}" + (f": {detail}" if detail else "")


class ReadinessProbe:
    """Runs the checks behind ``/readyz``. One per application; ``aclose()`` at cleanup.

    Probes arriving while a round is running share that round, so a burst of probes costs one
    database ping. The model endpoint, perhaps a paid API across the internet, is asked at most
    once every ``model_interval_s`` seconds; in between its last answer is reported.
    """

    def __init__(
        self, runtime: Runtime, *, timeout_s: float = 2.0, model_interval_s: float = 15.0
    ) -> None:
        self._runtime = runtime
        self._settings = runtime.settings
        self._timeout = timeout_s
        self._model_interval = model_interval_s
        self._model_last: tuple[float, str] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._round: asyncio.Task[Readiness] | None = None

    async def check(self) -> Readiness:
        if self._round is None or self._round.done():
            self._round = asyncio.ensure_future(self._run())
        return await asyncio.shield(self._round)

    async def aclose(self) -> None:
        if self._round is not None and not self._round.done():
            self._round.cancel()
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> Readiness:
        named: dict[str, Awaitable[str]] = {"database": self._database()}
        if self._runtime.redis is not None:
            named["redis"] = self._redis()
        if self._settings.model_configured or self._settings.embeddings_configured:
            named["model"] = self._model()
        results = await asyncio.gather(*named.values())
        return Readiness(
            checks=dict(zip(named, results, strict=True)),
            required=tuple(self._settings.readiness_requires),
        )

    async def _guarded(self, call: Awaitable[object]) -> str:
        try:
            await asyncio.wait_for(call, timeout=self._timeout)
        except Exception as exc:  # noqa: BLE001 — any failure is a reason to report
            return _reason(exc, self._timeout)
        return OK

    async def _database(self) -> str:
        return await self._guarded(self._runtime.db.ping())

    async def _redis(self) -> str:
        assert self._runtime.redis is not None
        return await self._guarded(self._runtime.redis.ping())

    async def _model(self) -> str:
        now = time.monotonic()
        if self._model_last is not None and now - self._model_last[0] < self._model_interval:
            return self._model_last[1]
        state = await self._ask_model()
        self._model_last = (time.monotonic(), state)
        return state

    async def _ask_model(self) -> str:
        """GET {base}/models: any answer but 401/403 and 5xx means the endpoint can serve us.

        Local servers (llama.cpp, some vLLM builds) may not list models and answer 404; they are
        up all the same.
        """
        settings = self._settings
        url = (settings.openai_base_url or _OPENAI).rstrip("/") + "/models"
        headers = {}
        if settings.openai_api_key is not None:
            key = settings.openai_api_key.get_secret_value()
            # OpenAI-style servers read the bearer token; Azure OpenAI reads "api-key".
            headers = {"Authorization": f"Bearer {key}", "api-key": key}
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        try:
            async with self._session.get(url, headers=headers, allow_redirects=False) as response:
                status = response.status
        except Exception as exc:  # noqa: BLE001 — unreachable, refused, timed out, TLS…
            return _reason(exc, self._timeout)
        if status in (401, 403):
            return f"rejected: HTTP {status} from the model endpoint (check OPENAI_API_KEY)"
        if status >= 500:
            return f"unavailable: HTTP {status} from the model endpoint"
        return OK
