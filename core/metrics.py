"""Prometheus instruments, owned by one registry per process (no module-level globals)."""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60)


class AnswerLoad(Protocol):
    """What ``core.lifecycle.slots.AnswerSlots`` shows of itself."""

    running: int
    limit: int
    lag_s: float

    @property
    def waiting(self) -> int: ...


class Metrics:
    """Everything Switchboard counts. Pass one instance down; read it at ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.answers = Counter(
            "switchboard_answers", "Answers finished, by outcome.", ["outcome"], registry=r
        )
        self.handoffs = Counter(
            "switchboard_handoffs",
            "\"Talk to a person\" presses and webhook deliveries, by platform and outcome.",
            ["platform", "outcome"],
            registry=r,
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
        # The inbox: what arrived, what was a duplicate, what had to be answered again.
        self.events_received = Counter(
            "switchboard_events_received",
            "Platform events carrying a question or command, each delivery counted.",
            ["platform"],
            registry=r,
        )
        self.events_deduplicated = Counter(
            "switchboard_events_deduplicated",
            "Deliveries turned away because their event was already accepted.",
            ["platform"],
            registry=r,
        )
        self.events_redelivered = Counter(
            "switchboard_events_redelivered",
            "Accepted events claimed again after their lease ran out (a replica died or "
            "gave the event back after a failure).",
            ["platform"],
            registry=r,
        )
        self.events_finished = Counter(
            "switchboard_events_finished",
            "Attempts at an accepted event, by how they ended: done, retried (given back to "
            "be tried again), failed, gave_up (out of attempts).",
            ["platform", "outcome"],
            registry=r,
        )
        self.inbox_depth = Gauge(
            "switchboard_inbox_depth",
            "Inbox rows not finished yet, by state (pending: waiting for a retry; working: "
            "claimed and being answered). The same for every replica.",
            ["state"],
            registry=r,
        )
        self.inbox_oldest_age = Gauge(
            "switchboard_inbox_oldest_age_seconds",
            "Age of the oldest unfinished inbox row (0 when there is none).",
            registry=r,
        )
        # Answers at once in this process (core/lifecycle/slots.py), read when scraped.
        self.answers_at_once = Gauge(
            "switchboard_answers_at_once",
            "Answers this process is working on (running), waiting for a turn (waiting), and "
            "how many it lets run now (limit: lower while its event loop falls behind).",
            ["state"],
            registry=r,
        )
        self.event_loop_lag = Gauge(
            "switchboard_event_loop_lag_seconds",
            "How late the event loop woke for its last tick while answers ran (0.1 s ticks; "
            "0 once they are few again).",
            registry=r,
        )
        # Platforms and the model: calls, rate limits, tokens and money.
        self.platform_calls = Counter(
            "switchboard_platform_calls",
            "Calls to Slack's Web API and Teams' Bot Connector, by method and outcome (ok, "
            "ratelimited: HTTP 429, error).",
            ["platform", "method", "outcome"],
            registry=r,
        )
        self.model_tokens = Counter(
            "switchboard_model_tokens",
            "Tokens the answers used, by model and kind (input, output).",
            ["model", "kind"],
            registry=r,
        )
        self.model_cost = Counter(
            "switchboard_model_cost_usd",
            "What the answers cost in US dollars, by model (SWITCHBOARD_MODEL_PRICES).",
            ["model"],
            registry=r,
        )
        # Grounding (core/grounding.py): how model answers were checked, and what was caught.
        self.answer_grounding = Counter(
            "switchboard_answer_grounding",
            "Answers written with a model configured, by how they were checked: cited, "
            "declined, replaced (the model cited nothing; the passages were shown), extractive "
            "(the model gave no text), none (failed).",
            ["check"],
            registry=r,
        )
        self.generation_stopped = Counter(
            "switchboard_generation_stopped",
            "Model answers stopped early, by reason: repetition (a loop), uncited (no valid "
            "citation within the hold limit or by the end).",
            ["reason"],
            registry=r,
        )
        self.unsupported_figures = Counter(
            "switchboard_unsupported_figures",
            "Figures (numbers, amounts, dates, codes) in model answers found in no passage.",
            registry=r,
        )
        self.job_runs = Counter(
            "switchboard_job_runs",
            "Scheduled and manual job runs, by job and outcome (succeeded, skipped, failed).",
            ["job", "outcome"],
            registry=r,
        )

    def watch_answers(self, load: AnswerLoad) -> None:
        """Show ``load`` at ``/metrics``: read when scraped, nothing kept per answer."""
        self.answers_at_once.labels(state="running").set_function(lambda: load.running)
        self.answers_at_once.labels(state="waiting").set_function(lambda: load.waiting)
        self.answers_at_once.labels(state="limit").set_function(lambda: load.limit)
        self.event_loop_lag.set_function(lambda: load.lag_s)
