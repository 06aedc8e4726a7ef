"""What the commands need from storage and from the rest of the system.

``store/`` implements these (``store/history.py``, ``store/admin.py``, ``store/privacy.py``);
the runtime hands the implementations to ``CommandHandler`` as ``CommandServices``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from core.conversations import UserRecord
from core.events import Person
from core.ingest.pipeline import IngestReport

#: Called with one line of progress; the adapter turns it into a message or an update.
ProgressCallback = Callable[[str], Awaitable[None]]


# -- history ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryScope:
    """Whose history, seen from where.

    A user sees the conversations they took part in. Private ones (DMs, the assistant pane)
    show anywhere; a shared one (channel, group chat) shows only when the command comes from
    that same channel, to the channel's members.
    """

    user_id: int
    platform: str
    workspace_id: str
    channel_id: str | None = None


@dataclass(frozen=True, slots=True)
class PastConversation:
    """A conversation row as history lists it; ``snippet``/``rank`` are set by searches."""

    id: int
    platform: str
    workspace_id: str
    channel_id: str
    thread_id: str
    kind: str
    title: str
    preview: str
    last_at: datetime
    snippet: str | None = None
    rank: float | None = None


class HistoryStore(Protocol):
    async def recent(
        self, scope: HistoryScope, *, before: tuple[datetime, int] | None, limit: int
    ) -> list[PastConversation]:
        """Newest first, strictly older than ``before`` (last_at, id) when given."""
        ...

    async def search_text(
        self, scope: HistoryScope, query: str, *, limit: int, offset: int = 0
    ) -> list[PastConversation]:
        """Full-text search of the caller's own messages (and the answers they got)."""
        ...

    async def search_meaning(
        self, scope: HistoryScope, vector: Sequence[float], *, model: str, limit: int
    ) -> list[PastConversation]:
        """Conversations whose summary (embedded by ``model``) is nearest ``vector``."""
        ...


# -- admin -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageStats:
    """What ``stats`` shows, for ``since`` ≤ time < ``until``. Each number counts rows:

    conversations with a message in the window, messages (questions and answers), questions,
    distinct people who asked, 👍/👎 given, answers per primary domain, questions per UTC day,
    latency percentiles over answers, and the model's cost and tokens.
    """

    since: datetime
    until: datetime
    conversations: int
    messages: int
    questions: int
    active_users: int
    thumbs_up: int
    thumbs_down: int
    top_domains: list[tuple[str, int]]
    daily_questions: list[tuple[date, int]]
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    total_p50_ms: float | None
    total_p95_ms: float | None
    cost_usd: float
    input_tokens: int
    output_tokens: int

    @property
    def thumbs_up_share(self) -> float | None:
        rated = self.thumbs_up + self.thumbs_down
        return self.thumbs_up / rated if rated else None


@dataclass(frozen=True, slots=True)
class IndexedSource:
    """Documents of one source and domain: how many, how many chunks, last indexed when."""

    source: str
    domain: str
    documents: int
    chunks: int
    last_indexed: datetime | None


@dataclass(frozen=True, slots=True)
class WatchedSource:
    """A folder or page someone ingested; the reingest job re-scans it."""

    uri: str
    added_by: str | None
    added_at: datetime
    last_scanned_at: datetime | None
    last_outcome: str | None


@dataclass(frozen=True, slots=True)
class NegativeFeedback:
    """A 👎 with what it was about."""

    id: int
    created_at: datetime
    question: str | None
    answer: str
    reasons: list[str]
    comment: str | None


@dataclass(frozen=True, slots=True)
class KnownUser:
    id: int
    platform: str
    workspace_id: str
    platform_user_id: str
    display_name: str | None
    email: str | None
    role: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who did what to whom, and how it ended. Never content."""

    actor: str
    action: str
    outcome: str
    actor_id: int | None = None
    target: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


class AdminStore(Protocol):
    async def stats(self, since: datetime, until: datetime) -> UsageStats: ...

    async def sources(self) -> list[IndexedSource]: ...

    async def watched_sources(self) -> list[WatchedSource]: ...

    async def remember_source(self, uri: str, added_by: str) -> None:
        """Keep ``uri`` fresh from now on (the reingest job re-scans what is remembered)."""
        ...

    async def negative_feedback(self, limit: int) -> list[NegativeFeedback]: ...

    async def find_users(self, platform: str, workspace_id: str, ref: str) -> list[KnownUser]:
        """People named by ``ref``: a platform user id in that workspace, or an email anywhere."""
        ...

    async def ensure_user(self, platform: str, workspace_id: str, user_id: str) -> KnownUser: ...

    async def set_role(self, user_ids: Sequence[int], role: str) -> None: ...

    async def indexed_documents(self) -> list[tuple[str, str, str | None]]:
        """(uri, source, path) of every indexed document."""
        ...

    async def remove_documents(self, uris: Sequence[str]) -> int: ...


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...


# -- privacy ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonalData:
    """How much of a person's data there is (or was, after ``forget``)."""

    conversations: int = 0
    messages: int = 0
    feedback: int = 0


class PrivacyStore(Protocol):
    async def inventory(self, user_id: int) -> PersonalData: ...

    async def forget(self, user_id: int) -> PersonalData:
        """Delete the person's questions, the answers they got, their feedback, the
        conversations left empty, and their name and email. Returns what was deleted."""
        ...

    async def export(self, user_id: int) -> dict[str, Any]:
        """Exactly the person's own data, as JSON-ready values."""
        ...


# -- the rest of the system ------------------------------------------------------------------


class UserDirectory(Protocol):
    async def upsert_user(self, person: Person) -> UserRecord: ...


class FileIngestor(Protocol):
    """``core.ingest.Ingestor``: reads files and folders into the index."""

    async def ingest(
        self,
        paths: Any,
        *,
        on_file: Callable[[str], None] | None = None,
        total: Callable[[int], None] | None = None,
    ) -> IngestReport: ...


#: Ingests one web page by its address. SEAM: wired when the web connector is (issue 3).
UrlIngest = Callable[[str], Awaitable[IngestReport]]


class PromptSource(Protocol):
    """``store.prompts.PromptStore``: this week's suggested prompts."""

    async def current(self, limit: int = 9) -> list[str]: ...


#: Runs the weekly-prompts job now and returns the prompts it stored.
#: SEAM: wired when the jobs package has the job (issue 8).
PromptRefresh = Callable[[], Awaitable[Sequence[str]]]


class QueryEmbedder(Protocol):
    """``core.embeddings.OpenAIEmbedder``: one vector for a search query; ``model`` names the
    vector space, so only summaries embedded by the same model are compared."""

    model: str

    async def embed_query(self, text: str) -> list[float]: ...


class CachedAnswers(Protocol):
    """The answer cache, as commands see it (``core.commands.privacy.CacheForgetting``)."""

    async def forget_user(self, user_id: int) -> None:
        """Drop what was cached from a person's questions (``forget-me``)."""
        ...

    async def documents_changed(self) -> None:
        """Drop answers that may rest on documents an ``ingest``/``reindex`` changed."""
        ...
