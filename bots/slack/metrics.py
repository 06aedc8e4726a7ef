"""What the Slack adapter counts, on the runtime's registry (read at ``/metrics``)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from core.metrics import Metrics


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one answer reached Slack (monotonic times; None when no text was ever shown)."""

    first_text_in: float | None
    first_text_out: float | None
    messages: int
    streamed: bool
    delivered: bool

    @property
    def delay_s(self) -> float | None:
        """From the first text reaching the adapter to it leaving for Slack."""
        if self.first_text_in is None or self.first_text_out is None:
            return None
        return max(0.0, self.first_text_out - self.first_text_in)


class SlackMetrics:
    """Web API calls by method and outcome (``switchboard_platform_calls``), how fast the
    first text leaves, and the last deliveries (kept for benchmarks and debugging, bounded)."""

    def __init__(self, metrics: Metrics, *, keep: int = 10_000) -> None:
        registry = metrics.registry
        self._platform_calls = metrics.platform_calls
        self.first_text_delay = Histogram(
            "switchboard_slack_first_text_delay_seconds",
            "From an answer's first text reaching the Slack adapter to it being sent to Slack.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.answers = Counter(
            "switchboard_slack_answers",
            "Answers delivered to Slack, by how (stream, post) and outcome.",
            ["mode", "outcome"],
            registry=registry,
        )
        self.deliveries: deque[Delivery] = deque(maxlen=keep)

    def call(self, method: str, outcome: str) -> None:
        """One Web API call ended: ``ok``, ``ratelimited`` (HTTP 429) or ``error``."""
        self._platform_calls.labels(platform="slack", method=method, outcome=outcome).inc()

    def delivered(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        if delivery.delay_s is not None:
            self.first_text_delay.observe(delivery.delay_s)
        self.answers.labels(
            mode="stream" if delivery.streamed else "post",
            outcome="delivered" if delivery.delivered else "failed",
        ).inc()
