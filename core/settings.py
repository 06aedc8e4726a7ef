"""The one settings object, read from the environment once at the entry point and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from core.ingest.connectors.settings import ConnectorSettings
from core.settings_part import CommaList, SettingsPart, explain

__all__ = ["READINESS_CHECKS", "CommaList", "Settings", "SettingsPart", "explain"]

# What /readyz can check; the ones listed in SWITCHBOARD_READINESS_REQUIRES take a replica out of
# rotation when they fail, the others only report "degraded".
READINESS_CHECKS = ("database", "redis", "model")


class Settings(ConnectorSettings, SettingsPart):
    """Every knob of the core. Each has a default, so a fresh checkout runs as it is. The
    connectors' knobs sit beside them (``ConnectorSettings``, composed in); each platform's
    are in its folder (``bots/<platform>/settings.py``).

    Environment names are the aliases (``DATABASE_URL``, ``SWITCHBOARD_DATA_DIR``…); code and
    tests may pass the field names instead.
    """

    # Storage
    database_url: SecretStr | None = Field(None, alias="DATABASE_URL")
    data_dir: Path = Field(Path(".switchboard"), alias="SWITCHBOARD_DATA_DIR")
    redis_url: SecretStr | None = Field(None, alias="REDIS_URL")
    db_pool_min: int = Field(1, alias="SWITCHBOARD_DB_POOL_MIN", ge=1)
    db_pool_max: int = Field(20, alias="SWITCHBOARD_DB_POOL_MAX", ge=1)

    # Server
    host: str = Field("127.0.0.1", alias="SWITCHBOARD_HOST")
    port: int = Field(3978, alias="PORT", ge=0, le=65535)
    log_level: str = Field("INFO", alias="SWITCHBOARD_LOG_LEVEL")
    # "auto": readable lines on a terminal, JSON everywhere else (collectors, files, pipes).
    log_format: Literal["auto", "json", "console"] = Field("auto", alias="SWITCHBOARD_LOG_FORMAT")
    max_body_bytes: int = Field(1_000_000, alias="SWITCHBOARD_MAX_BODY_BYTES", ge=1024)
    readiness_requires: CommaList = Field(("database",), alias="SWITCHBOARD_READINESS_REQUIRES")

    # The inbox: an answer holds its event's lease (renewed every sweep while it works); when a
    # replica dies the lease runs out and another one answers. A failed attempt is tried again
    # after a pause (times the attempt number), at most INBOX_MAX_ATTEMPTS times in all.
    # 15 s and 3 s: a question held by a dead process is taken over within 18 s (the lease
    # plus one sweep); renewing every sweep costs one UPDATE per replica every 3 s.
    inbox_lease_s: float = Field(15.0, alias="SWITCHBOARD_INBOX_LEASE_S", gt=0)
    inbox_sweep_s: float = Field(3.0, alias="SWITCHBOARD_INBOX_SWEEP_S", gt=0)
    inbox_max_attempts: int = Field(3, alias="SWITCHBOARD_INBOX_MAX_ATTEMPTS", ge=1)
    inbox_retry_delay_s: float = Field(5.0, alias="SWITCHBOARD_INBOX_RETRY_DELAY_S", ge=0)

    # Knowledge
    sample_knowledge: Path | None = Field(
        Path("examples/knowledge"), alias="SWITCHBOARD_SAMPLE_KNOWLEDGE"
    )
    domains_file: Path | None = Field(None, alias="SWITCHBOARD_DOMAINS_FILE")
    # 1,400 / 300 had the best mean hybrid hit@5 over both evaluation sets (claude-docs,
    # financebench) (docs/benchmarks.md, chunk size with vectors).
    chunk_size: int = Field(1400, alias="SWITCHBOARD_CHUNK_SIZE", ge=200)
    chunk_overlap: int = Field(300, alias="SWITCHBOARD_CHUNK_OVERLAP", ge=0)
    retrieval_k: int = Field(5, alias="SWITCHBOARD_RETRIEVAL_K", ge=1, le=50)
    # Chunks each ranking hands to the fusion. 40 and 100 find the same documents within one
    # (docs/benchmarks.md, retrieval quality); 40 is less to walk, fetch and tidy per question.
    retrieval_candidates: int = Field(40, alias="SWITCHBOARD_RETRIEVAL_CANDIDATES", ge=1)
    # Hybrid retrieval: each ranking's weight in reciprocal-rank fusion, the fusion constant,
    # how many passages one document may give, and the HNSW search breadth. Defaults measured
    # in docs/benchmarks.md (retrieval quality).
    retrieval_text_weight: float = Field(1.0, alias="SWITCHBOARD_RETRIEVAL_TEXT_WEIGHT", ge=0)
    retrieval_vector_weight: float = Field(1.0, alias="SWITCHBOARD_RETRIEVAL_VECTOR_WEIGHT", ge=0)
    retrieval_rrf_k: int = Field(20, alias="SWITCHBOARD_RETRIEVAL_RRF_K", ge=1)
    # Diversity: a document's n-th chunk's fused score is multiplied by repeat_decay^(n-1)
    # before passages are chosen, so a long document gives a second passage only when it is
    # clearly better than another document's first; at most per_document passages from one
    # document. "Distinct documents first" (a document's further passages only in slots no
    # other document wants) helped many short documents and hurt long PDFs; the decay keeps
    # the first and recovers most of the second. Measured with vectors on both sets, no decay
    # (1.0) had the best mean: long PDFs keep their answer pages (docs/benchmarks.md).
    retrieval_per_document: int = Field(5, alias="SWITCHBOARD_RETRIEVAL_PER_DOCUMENT", ge=1)
    retrieval_distinct_first: bool = Field(False, alias="SWITCHBOARD_RETRIEVAL_DISTINCT_FIRST")
    retrieval_repeat_decay: float = Field(
        1.0, alias="SWITCHBOARD_RETRIEVAL_REPEAT_DECAY", gt=0, le=1
    )
    # 0: the HNSW walk's breadth follows the index's size, the narrowest that kept recall@10
    # >= 0.95 on realistic vectors (store/retrieval.py; docs/benchmarks.md, retrieval latency).
    retrieval_ef_search: int = Field(0, alias="SWITCHBOARD_RETRIEVAL_EF_SEARCH", ge=0, le=1000)
    # A filtered question whose filter keeps at most this many times the walk's breadth in
    # chunks (the planner's estimate) is ranked by reading all of them rather than by walking
    # the index; 0 never (store/retrieval.py).
    retrieval_exact_factor: int = Field(10, alias="SWITCHBOARD_RETRIEVAL_EXACT_FACTOR", ge=0)
    # Rerank stage (core/rerank.py): when an endpoint serving the /rerank API is set (vLLM,
    # Infinity, Hugging Face TEI), the best rerank_candidates fused chunks are reordered by it.
    # Off by default: no cross-encoder could be measured here (docs/benchmarks.md).
    rerank_url: str | None = Field(None, alias="SWITCHBOARD_RERANK_URL")
    rerank_model: str | None = Field(None, alias="SWITCHBOARD_RERANK_MODEL")
    rerank_api_key: SecretStr | None = Field(None, alias="SWITCHBOARD_RERANK_API_KEY")
    # "documents" for vLLM, Infinity and Cohere-shaped endpoints; "texts" for TEI.
    rerank_format: Literal["documents", "texts"] = Field(
        "documents", alias="SWITCHBOARD_RERANK_FORMAT"
    )
    rerank_candidates: int = Field(20, alias="SWITCHBOARD_RERANK_CANDIDATES", ge=1, le=200)
    rerank_timeout: float = Field(5.0, alias="SWITCHBOARD_RERANK_TIMEOUT", gt=0)

    # Sources show a file by its path inside the ingested folder; with this set (e.g.
    # https://intranet.example.com/handbook) they link to base + that path instead. The
    # connectors' own settings: core/ingest/connectors/settings.py.
    source_url_base: str | None = Field(None, alias="SWITCHBOARD_SOURCE_URL_BASE")

    # Questions
    max_question_chars: int = Field(4000, alias="SWITCHBOARD_MAX_QUESTION_CHARS", ge=10)
    history_turns: int = Field(10, alias="SWITCHBOARD_HISTORY_TURNS", ge=0)
    # Seconds without a message after which a conversation starts afresh for a question that
    # does not read as a follow-up (a Teams chat is one conversation for ever; 0: never).
    follow_up_quiet_s: float = Field(1800.0, alias="SWITCHBOARD_FOLLOW_UP_QUIET_S", ge=0)
    # Per person: a token bucket of RATE_LIMIT_BURST questions, refilled at RATE_LIMIT_PER_MINUTE
    # (shared through Redis when configured; 0 burst turns it off). Daily model-cost budgets in
    # USD per person and per workspace, renewed at midnight UTC (0: no budget).
    rate_limit_burst: int = Field(10, alias="SWITCHBOARD_RATE_LIMIT_BURST", ge=0)
    rate_limit_per_minute: float = Field(20.0, alias="SWITCHBOARD_RATE_LIMIT_PER_MINUTE", gt=0)
    user_daily_budget_usd: float = Field(0.0, alias="SWITCHBOARD_USER_DAILY_BUDGET_USD", ge=0)
    workspace_daily_budget_usd: float = Field(
        0.0, alias="SWITCHBOARD_WORKSPACE_DAILY_BUDGET_USD", ge=0
    )
    # Seconds a workspace's spend total is reused before it is summed again (0: every question).
    budget_refresh_s: float = Field(5.0, alias="SWITCHBOARD_BUDGET_REFRESH_S", ge=0)
    # "I couldn't find that": a question is declined (no passages shown, no model call) when
    # the best retrieved passage holds less than this IDF-weighted share of its content words
    # (core/coverage.py; chosen on two document sets, docs/benchmarks.md). 0 never declines.
    decline_min_coverage: float = Field(0.65, alias="SWITCHBOARD_DECLINE_MIN_COVERAGE", ge=0, le=1)
    # Who a declined question is sent to, per domain (JSON in the env); a domain not listed
    # uses its `contact` in the domains file, else SWITCHBOARD_HELP_CONTACT.
    help_contacts: dict[str, str] = Field(
        default_factory=lambda: {"hr": "the People Team (HR)", "it": "the IT Help Hub"},
        alias="SWITCHBOARD_HELP_CONTACTS",
    )
    help_contact: str = Field(
        "your manager, the People Team (HR) or the IT Help Hub", alias="SWITCHBOARD_HELP_CONTACT"
    )

    # Model (used only when given; otherwise the offline paths answer)
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    chat_model: str | None = Field(None, alias="SWITCHBOARD_CHAT_MODEL")
    embedding_model: str | None = Field(None, alias="SWITCHBOARD_EMBEDDING_MODEL")
    embedding_dimensions: int | None = Field(
        None, alias="SWITCHBOARD_EMBEDDING_DIMENSIONS", ge=1, le=2000  # HNSW indexes 2,000 at most
    )
    embedding_batch_size: int = Field(128, alias="SWITCHBOARD_EMBEDDING_BATCH", ge=1, le=2048)
    # Embedding requests an ingest keeps in flight (a 429 lowers it until the endpoint keeps up).
    embedding_concurrency: int = Field(8, alias="SWITCHBOARD_EMBEDDING_CONCURRENCY", ge=1, le=32)
    # Azure OpenAI: set the api-version; OPENAI_BASE_URL is then the resource endpoint and every
    # model setting names a deployment.
    openai_api_version: str | None = Field(None, alias="OPENAI_API_VERSION")
    router_model: str | None = Field(None, alias="SWITCHBOARD_ROUTER_MODEL")  # unset: chat model
    moderation_model: str | None = Field(None, alias="SWITCHBOARD_MODERATION_MODEL")  # unset: local rules
    # A bad model day: timeouts (seconds), retries before the first token, the circuit breaker.
    model_connect_timeout: float = Field(5.0, alias="SWITCHBOARD_MODEL_CONNECT_TIMEOUT", gt=0)
    model_first_token_timeout: float = Field(
        20.0, alias="SWITCHBOARD_MODEL_FIRST_TOKEN_TIMEOUT", gt=0
    )
    model_idle_timeout: float = Field(30.0, alias="SWITCHBOARD_MODEL_IDLE_TIMEOUT", gt=0)
    model_total_timeout: float = Field(180.0, alias="SWITCHBOARD_MODEL_TOTAL_TIMEOUT", gt=0)
    model_retries: int = Field(2, alias="SWITCHBOARD_MODEL_RETRIES", ge=0, le=10)
    model_backoff_base: float = Field(0.5, alias="SWITCHBOARD_MODEL_BACKOFF_BASE", ge=0)
    model_backoff_max: float = Field(8.0, alias="SWITCHBOARD_MODEL_BACKOFF_MAX", ge=0)
    model_stream_usage: bool = Field(True, alias="SWITCHBOARD_MODEL_STREAM_USAGE")
    breaker_failures: int = Field(5, alias="SWITCHBOARD_BREAKER_FAILURES", ge=1)
    breaker_cooldown: float = Field(30.0, alias="SWITCHBOARD_BREAKER_COOLDOWN", gt=0)
    router_timeout: float = Field(4.0, alias="SWITCHBOARD_ROUTER_TIMEOUT", gt=0)
    # The fast router decides alone at or above this confidence; below it the LLM router is asked.
    router_fast_confidence: float = Field(
        0.6, alias="SWITCHBOARD_ROUTER_FAST_CONFIDENCE", ge=0, le=1
    )
    moderation_timeout: float = Field(5.0, alias="SWITCHBOARD_MODERATION_TIMEOUT", gt=0)
    moderation_enabled: bool = Field(True, alias="SWITCHBOARD_MODERATION")
    moderation_blocklist: CommaList = Field((), alias="SWITCHBOARD_MODERATION_BLOCKLIST")
    # Generation: answer length, temperature, and token budgets for history and passages.
    max_answer_tokens: int = Field(800, alias="SWITCHBOARD_MAX_ANSWER_TOKENS", ge=16)
    temperature: float = Field(0.2, alias="SWITCHBOARD_TEMPERATURE", ge=0, le=2)
    history_tokens: int = Field(1500, alias="SWITCHBOARD_HISTORY_TOKENS", ge=0)
    # 1500 keeps the five passages of a typical question (measured: 1,250-1,450 tokens on both
    # public sets) and bounds a run of long table chunks; docs/benchmarks.md.
    passage_tokens: int = Field(1500, alias="SWITCHBOARD_PASSAGE_TOKENS", ge=200)
    # Prompt tokens the endpoint reads a second (a CPU llama.cpp server: ~150); unset, it is
    # measured from the endpoint's first tokens. The first-token wait grows by the reading time.
    model_prompt_tokens_per_s: float | None = Field(
        None, alias="SWITCHBOARD_MODEL_PROMPT_TOKENS_PER_S", gt=0
    )
    # Grounding (core/grounding.py): an answer citing nothing is replaced by the passages, or
    # with GROUNDING_REASK first asked again once, more strictly (off: measured on a small local
    # model it cost 13-22 s and rescued few answers; docs/benchmarks.md); figures found in no
    # passage are named under the answer, or with STRICT_FIGURES their sentences are left out;
    # text waits at most GROUNDING_HOLD_CHARS for its first citation.
    grounding_reask: bool = Field(False, alias="SWITCHBOARD_GROUNDING_REASK")
    strict_figures: bool = Field(False, alias="SWITCHBOARD_STRICT_FIGURES")
    grounding_hold_chars: int = Field(700, alias="SWITCHBOARD_GROUNDING_HOLD_CHARS", ge=100)
    # USD per million tokens, [input, output], by model name or name prefix (JSON in the env).
    # Models not listed (local ones) cost nothing.
    model_prices: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "gpt-4o-mini": (0.15, 0.60),
            "gpt-4o": (2.50, 10.00),
            "gpt-4.1-nano": (0.10, 0.40),
            "gpt-4.1-mini": (0.40, 1.60),
            "gpt-4.1": (2.00, 8.00),
            "text-embedding-3-small": (0.02, 0.0),
            "text-embedding-3-large": (0.13, 0.0),
        },
        alias="SWITCHBOARD_MODEL_PRICES",
    )
    # Repeated questions: seconds an answer is reused (0 turns the cache off).
    answer_cache_ttl: int = Field(86_400, alias="SWITCHBOARD_ANSWER_CACHE_TTL", ge=0)

    # Answers one replica works on at once, on every platform (the env name is older than
    # Teams' use of it): as many as the event loop keeps up with, so that it wakes at most
    # ``answer_lag_ms`` late, and never more than ``max_answers`` (a burst must not queue the
    # whole database pool); more wait their turn (core/lifecycle/slots.py). A fixed 80 left a
    # replica at half a core in a burst of 2,000 (docs/operations.md, "What one replica holds").
    max_answers: int = Field(320, alias="SLACK_MAX_ANSWERS", ge=1)
    answer_lag_ms: float = Field(50.0, alias="SWITCHBOARD_ANSWER_LAG_MS", gt=0)

    # People
    admins: CommaList = Field((), alias="SWITCHBOARD_ADMINS")

    # Commands: history pages, the timezone for "Today" when the platform gives none, and the
    # server folders admins may `ingest` from chat (none: only URLs).
    history_page_size: int = Field(10, alias="SWITCHBOARD_HISTORY_PAGE_SIZE", ge=1, le=40)
    timezone: str = Field("UTC", alias="SWITCHBOARD_TIMEZONE")
    ingest_roots: CommaList = Field((), alias="SWITCHBOARD_INGEST_ROOTS")

    # Scheduled jobs (run inside `switchboard serve`; one replica runs each slot). Schedules are
    # cron: "minute hour day month weekday" (weekday 0 or 7 = Sunday, or names such as "sun"),
    # or six fields with seconds first.
    jobs_enabled: bool = Field(True, alias="SWITCHBOARD_JOBS_ENABLED")
    jobs_timezone: str = Field("UTC", alias="SWITCHBOARD_JOBS_TIMEZONE")
    weekly_prompts_cron: str = Field("0 2 * * sun", alias="SWITCHBOARD_WEEKLY_PROMPTS_CRON")
    reingest_cron: str = Field("0 * * * *", alias="SWITCHBOARD_REINGEST_CRON")
    retention_cron: str = Field("30 3 * * *", alias="SWITCHBOARD_RETENTION_CRON")
    summaries_cron: str = Field("*/10 * * * *", alias="SWITCHBOARD_SUMMARIES_CRON")
    # Suggested prompts: shown until the weekly job has enough questions (a JSON list in the env).
    default_prompts: tuple[str, ...] = Field(
        (
            "How do I reset my password?",
            "How many vacation days do I get?",
            "How do I connect to the VPN?",
            "What is the travel expense policy?",
            "How do I request new hardware?",
            "When is payday?",
            "How do I report a phishing email?",
            "What are the company holidays this year?",
            "How do I set up multi-factor authentication?",
        ),
        alias="SWITCHBOARD_DEFAULT_PROMPTS",
    )
    prompts_min_questions: int = Field(30, alias="SWITCHBOARD_PROMPTS_MIN_QUESTIONS", ge=1)
    # With embeddings: the average cosine similarity two groups of questions need to merge.
    # Embedding models differ in scale; raise it if unrelated topics share a prompt.
    prompts_similarity: float = Field(0.6, alias="SWITCHBOARD_PROMPTS_SIMILARITY", gt=0, lt=1)
    # Verified answers: how alike a question must be to an admin's verified question to get
    # its answer — embedding cosine, or words + trigrams without embeddings (chosen on
    # bench/verified.py; a question naming another place, device or year never matches).
    verified_similarity: float = Field(0.78, alias="SWITCHBOARD_VERIFIED_SIMILARITY", gt=0, le=1)
    verified_text_similarity: float = Field(
        0.46, alias="SWITCHBOARD_VERIFIED_TEXT_SIMILARITY", gt=0, le=1
    )
    # Folders and URLs the reingest job re-scans, beside every source ingested before.
    reingest_sources: CommaList = Field((), alias="SWITCHBOARD_REINGEST_SOURCES")
    # Retention in days (0 keeps forever): conversations and messages, feedback, finished inbox
    # rows and job runs; deleted a batch at a time so no table is locked for long.
    retention_days: int = Field(365, alias="SWITCHBOARD_RETENTION_DAYS", ge=0)
    feedback_retention_days: int = Field(365, alias="SWITCHBOARD_FEEDBACK_RETENTION_DAYS", ge=0)
    inbox_retention_days: int = Field(7, alias="SWITCHBOARD_INBOX_RETENTION_DAYS", ge=0)
    job_runs_retention_days: int = Field(90, alias="SWITCHBOARD_JOB_RUNS_RETENTION_DAYS", ge=0)
    retention_batch_size: int = Field(2000, alias="SWITCHBOARD_RETENTION_BATCH", ge=1)
    # A conversation quiet this long gets a summary (and an embedding when configured).
    summary_quiet_minutes: int = Field(30, alias="SWITCHBOARD_SUMMARY_QUIET_MINUTES", ge=1)

    @field_validator("readiness_requires")
    @classmethod
    def _known_checks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in READINESS_CHECKS]
        if unknown:
            known = ", ".join(READINESS_CHECKS)
            raise ValueError(f"unknown check {', '.join(unknown)}; choose from {known}")
        return value

    def _missing(self) -> list[str]:
        missing: list[str] = []
        endpoint = self.openai_base_url or self.openai_api_key
        for alias, model in (
            ("SWITCHBOARD_CHAT_MODEL", self.chat_model),
            ("SWITCHBOARD_EMBEDDING_MODEL", self.embedding_model),
        ):
            if model and not endpoint:
                missing.append(
                    f"{alias} is set but there is no model endpoint: set OPENAI_BASE_URL (any "
                    "OpenAI-compatible server) and/or OPENAI_API_KEY (OpenAI itself)"
                )
        if self.openai_api_version and not self.openai_base_url:
            missing.append(
                "OPENAI_API_VERSION is set (Azure OpenAI) but OPENAI_BASE_URL is missing: set it "
                "to the resource endpoint, https://NAME.openai.azure.com"
            )
        if any(mark in (self.openai_base_url or "") for mark in "?#"):
            # Requests add their path (/chat/completions) to the end of it, after the query.
            missing.append(
                "OPENAI_BASE_URL has a query string (?…) or fragment (#…): every request's path "
                "would follow it and the endpoint would not find it. Set the key in "
                "OPENAI_API_KEY, and OPENAI_BASE_URL to the address up to its path (…/v1)"
            )
        if self.moderation_model and not endpoint:
            missing.append(
                "SWITCHBOARD_MODERATION_MODEL is set but there is no model endpoint: set "
                "OPENAI_BASE_URL and/or OPENAI_API_KEY (or unset it to use the local rules)"
            )
        if self.db_pool_min > self.db_pool_max:
            missing.append("SWITCHBOARD_DB_POOL_MIN is larger than SWITCHBOARD_DB_POOL_MAX")
        if self.inbox_sweep_s * 2 > self.inbox_lease_s:
            # Leases are renewed once a sweep: a lease must outlive two of them.
            missing.append(
                "SWITCHBOARD_INBOX_SWEEP_S must be at most half of SWITCHBOARD_INBOX_LEASE_S"
            )
        if self.chunk_overlap >= self.chunk_size:
            missing.append("SWITCHBOARD_CHUNK_OVERLAP must be smaller than SWITCHBOARD_CHUNK_SIZE")
        return [*missing, *super()._missing()]

    @property
    def model_configured(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key) and bool(self.chat_model)

    @property
    def embeddings_configured(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key) and bool(self.embedding_model)
