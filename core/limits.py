"""How often and how expensively one person may ask: the guard's limits step.

A question passes ``QuestionGate.admit`` after the size check and before anything is stored,
moderated or generated:

1. **Pace** — a token bucket per person (``capacity`` questions at once, refilled at
   ``per_second``). Shared through Redis when configured (``store.limits.RedisTokenBucket``), in
   this process otherwise (``MemoryTokenBucket``). Refused with ``RateLimited``: "you're asking
   fast — try again in N s".
2. **Budgets** — what the person's answers, and their workspace's, cost the model today (UTC),
   against the daily budgets in the settings. Refused with ``BudgetExceeded`` until midnight.

Every refusal is recorded (``LimitLog``) so admins see who hit which limit in ``stats``.

Only a question's first attempt is charged and checked. When the inbox answers an event again
(its first attempt died or failed, ``ChatEvent.attempt`` > 1), the person asked once: taking a
second token could tell them "you're asking fast" for a question they asked once, and a budget
spent meanwhile must not refuse an answer already under way. The price: an attempt that died
before it reached the gate (queued behind a burst) is answered uncharged, one question per
such event.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import structlog

from core.errors import BudgetExceeded, RateLimited
from core.events import Person

log = structlog.get_logger(__name__)

LimitKind = Literal["rate", "user_budget", "workspace_budget"]
KIND_LABELS: dict[str, str] = {
    "rate": "asking fast",
    "user_budget": "personal daily budget",
    "workspace_budget": "workspace daily budget",
}


@dataclass(frozen=True, slots=True)
class LimitHit:
    """One refused question: whose, which limit, and how long they were asked to wait."""

    kind: LimitKind
    person: Person
    retry_after: float


@dataclass(frozen=True, slots=True)
class LimitHitSummary:
    """A person's refusals of one kind in a period, as ``stats`` lists them."""

    kind: str
    platform: str
    workspace_id: str
    user_id: str
    display_name: str | None
    hits: int
    last_at: datetime


@dataclass(frozen=True, slots=True)
class DailySpend:
    """What the model cost today (UTC) for one person and for their whole workspace."""

    user_usd: float = 0.0
    workspace_usd: float = 0.0


class TokenBucket(Protocol):
    async def take(self, key: str) -> float:
        """Take one question from ``key``'s bucket: 0.0 when allowed, else the seconds until
        one is free (nothing is taken then)."""
        ...

    async def forget(self, key: str) -> None:
        """Drop ``key``'s bucket (its key may name the person: forget-me)."""
        ...


class SpendLedger(Protocol):
    async def spent_since(
        self, person: Person, since: datetime, *, user: bool, workspace: bool
    ) -> DailySpend:
        """Model cost of answers since ``since``: the person's (when ``user``) and their
        workspace's (when ``workspace``); a total not asked for is 0."""
        ...


class LimitLog(Protocol):
    async def record(self, hit: LimitHit) -> None: ...


class LimitHitReader(Protocol):
    async def hits(self, since: datetime, until: datetime, limit: int) -> list[LimitHitSummary]:
        """Who was refused in [since, until), most refusals first."""
        ...


def bucket_key(person: Person) -> str:
    # One person on several platforms (``Person.account``) has one pace.
    if person.account:
        return f"account:{person.account}"
    return f"{person.platform}:{person.workspace_id}:{person.user_id}"


class MemoryTokenBucket:
    """Token buckets in this process: the limit when there is no Redis (or it is down).

    Idle buckets are full buckets, so they are forgotten once there are more than ``max_keys``:
    memory stays bounded however many people ask.
    """

    def __init__(
        self,
        *,
        capacity: int,
        per_second: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and a positive refill rate")
        self._capacity = float(capacity)
        self._rate = per_second
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take_now(self, key: str) -> float:
        now = self._clock()
        tokens, at = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + max(0.0, now - at) * self._rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._forget_full(now)
        return wait

    async def take(self, key: str) -> float:
        return self.take_now(key)

    async def forget(self, key: str) -> None:
        self._buckets.pop(key, None)

    def _forget_full(self, now: float) -> None:
        refill = self._capacity / self._rate
        for key, (_, at) in list(self._buckets.items()):
            if now - at >= refill:
                del self._buckets[key]


def _until_midnight(now: datetime) -> float:
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return max(1.0, (midnight - now).total_seconds())


def _duration(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def rate_message(retry_after: float) -> str:
    return f"You're asking fast — try again in {max(1, math.ceil(retry_after))} s."


def budget_message(scope: str, retry_after: float) -> str:
    when = f"midnight UTC, in {_duration(retry_after)}"
    if scope == "user":
        return (
            "You've used today's allowance for questions to the assistant. It renews at "
            f"{when}. If you need more, ask your admins."
        )
    return (
        "The assistant has reached today's spending limit for this workspace, so it can't "
        f"answer new questions until {when}. Your admins can see this in `stats`."
    )


class QuestionGate:
    """Admits a question or refuses it with ``RateLimited`` / ``BudgetExceeded`` (the message
    is fit to show the person as it is). Each refusal is recorded in ``limit_log``.

    A budget of 0 is no budget. Budgets are checked against answers already stored, so answers
    still being written when the budget runs out are not counted yet: a soft limit, off by at
    most the cost of the answers in flight.
    """

    def __init__(
        self,
        *,
        bucket: TokenBucket | None = None,
        ledger: SpendLedger | None = None,
        limit_log: LimitLog | None = None,
        user_budget_usd: float = 0.0,
        workspace_budget_usd: float = 0.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._bucket = bucket
        self._ledger = ledger
        self._log = limit_log
        self._user_budget = user_budget_usd
        self._workspace_budget = workspace_budget_usd
        self._now = now

    async def forget_accounts(
        self,
        accounts: Sequence[tuple[str, str, str]],
        *,
        emails: Sequence[str] = (),
        entra_ids: Sequence[str] = (),
    ) -> None:
        """forget-me: the person's pace, kept under their platform ids and their email."""
        if self._bucket is None:
            return
        for platform, workspace_id, user_id in accounts:
            await self._bucket.forget(f"{platform}:{workspace_id}:{user_id}")
        for email in emails:
            await self._bucket.forget(f"account:{email.strip().lower()}")

    async def admit(self, person: Person, *, attempt: int = 1) -> None:
        """Let the question through or raise; ``attempt`` > 1 (the same event answered again)
        passes without a charge or a budget check."""
        if attempt > 1:
            log.info("question_limits_skipped", attempt=attempt, user_id=person.user_id)
            return
        if self._bucket is not None:
            wait = await self._bucket.take(bucket_key(person))
            if wait > 0:
                await self._refused(LimitHit("rate", person, wait))
                raise RateLimited(rate_message(wait), retry_after=wait)
        user, workspace = self._user_budget > 0, self._workspace_budget > 0
        if self._ledger is None or not (user or workspace):
            return
        now = self._now()
        midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
        spent = await self._ledger.spent_since(person, midnight, user=user, workspace=workspace)
        wait = _until_midnight(now)
        if workspace and spent.workspace_usd >= self._workspace_budget:
            await self._refused(LimitHit("workspace_budget", person, wait))
            raise BudgetExceeded(
                budget_message("workspace", wait), scope="workspace", retry_after=wait
            )
        if user and spent.user_usd >= self._user_budget:
            await self._refused(LimitHit("user_budget", person, wait))
            raise BudgetExceeded(budget_message("user", wait), scope="user", retry_after=wait)

    async def _refused(self, hit: LimitHit) -> None:
        log.info(
            "question_limited",
            kind=hit.kind,
            platform=hit.person.platform,
            workspace_id=hit.person.workspace_id,
            user_id=hit.person.user_id,
            retry_after=round(hit.retry_after, 1),
        )
        if self._log is None:
            return
        try:
            await self._log.record(hit)
        except Exception:
            # The person is told either way; a lost record only makes `stats` undercount.
            log.exception("limit_hit_not_recorded", kind=hit.kind)
