"""A circuit breaker: after repeated failures, stop calling an endpoint for a while."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import structlog

log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls fail at once until the cooldown is over
    HALF_OPEN = "half_open"  # one trial call decides whether to close again


class CircuitBreaker:
    """Counts consecutive failures of one endpoint and opens after ``failures`` of them.

    While open, ``allow()`` says no without touching the network, so a dead endpoint costs a
    user nothing but the fallback. After ``cooldown`` seconds one trial call is let through:
    success closes the circuit, failure opens it for another cooldown. A trial whose caller
    never reports back (cancelled) is replaced by another after one more cooldown.
    """

    def __init__(
        self,
        *,
        failures: int = 5,
        cooldown: float = 30.0,
        name: str = "model",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = max(1, failures)
        self._cooldown = cooldown
        self._name = name
        self._clock = clock
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._trial_started: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._cooled_down(self._opened_at):
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def retry_in(self) -> float:
        """Seconds until a trial call will be allowed (0 when calls go through)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - self._clock())

    def allow(self) -> bool:
        """Whether a call may go out now. In half-open state only the first caller gets a yes."""
        if self._state is BreakerState.CLOSED:
            return True
        now = self._clock()
        if self._state is BreakerState.OPEN:
            if not self._cooled_down(self._opened_at):
                return False
            self._state = BreakerState.HALF_OPEN
            self._trial_started = now
            log.info("circuit_half_open", endpoint=self._name)
            return True
        # Half open: one trial at a time, unless the last one was abandoned.
        if self._trial_started is not None and not self._cooled_down(self._trial_started):
            return False
        self._trial_started = now
        return True

    def record_success(self) -> None:
        if self._state is not BreakerState.CLOSED:
            log.info("circuit_closed", endpoint=self._name)
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._trial_started = None

    def record_failure(self) -> None:
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            if self._state is not BreakerState.OPEN:
                log.warning(
                    "circuit_opened", endpoint=self._name, failures=self._failures,
                    cooldown_s=self._cooldown,
                )
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._trial_started = None

    def _cooled_down(self, since: float) -> bool:
        return self._clock() - since >= self._cooldown
