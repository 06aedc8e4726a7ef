"""Prometheus instruments, owned by one registry per process (no module-level globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60)


class Metrics:
    """Everything Switchboard counts. Pass one instance down; read it at ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.answers = Counter(
            "switchboard_answers", "Answers finished, by outcome.", ["outcome"], registry=r
        )
        self.time_to_first_token = Histogram(
            "switchboard_time_to_first_token_seconds",
            "From the question arriving to the first answer text.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.answer_duration = Histogram(
            "switchboard_answer_duration_seconds",
            "From the question arriving to the answer being finished.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.retrieval_duration = Histogram(
            "switchboard_retrieval_duration_seconds",
            "Time spent retrieving passages for one question.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
            registry=r,
        )
        self.http_requests = Counter(
            "switchboard_http_requests",
            "HTTP requests served, by route and status.",
            ["route", "status"],
            registry=r,
        )
