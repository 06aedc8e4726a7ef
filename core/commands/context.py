"""Everything one command runs with: the request, who is asking, the services, the options."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.commands.reply import CommandRequest
from core.commands.stores import (
    AdminStore,
    AuditLog,
    CachedAnswers,
    FileIngestor,
    HistoryScope,
    HistoryStore,
    PrivacyStore,
    ProgressCallback,
    PromptRefresh,
    PromptSource,
    QueryEmbedder,
    UrlIngest,
    UserDirectory,
)
from core.conversations import UserRecord
from core.events import ConversationKind, Person
from core.identity.principals import AudienceSetter, PersonIdentifier
from core.limits import LimitHitReader
from core.settings import Settings
from core.verified import VerifiedAnswers

if TYPE_CHECKING:
    from core.commands.stats_csv import DailyReport
    from core.commands.unanswered import UnansweredReader


@dataclass(slots=True)
class CommandServices:
    """The stores and workers commands use. The optional ones are seams other parts fill."""

    users: UserDirectory
    history: HistoryStore
    admin: AdminStore
    audit: AuditLog
    privacy: PrivacyStore
    ingestor: FileIngestor
    url_ingest: UrlIngest | None = None
    prompts: PromptSource | None = None
    refresh_prompts: PromptRefresh | None = None
    embedder: QueryEmbedder | None = None
    answer_cache: CachedAnswers | None = None
    # Who was refused by a rate limit or a daily budget (shown in `stats`).
    limits: LimitHitReader | None = None
    # The admins' loop: verified answers, what went unanswered, usage as a CSV file.
    verified: VerifiedAnswers | None = None
    unanswered: UnansweredReader | None = None
    daily_report: DailyReport | None = None
    # Who may read what is ingested (`ingest … --allow`).
    audiences: AudienceSetter | None = None
    # Who is asking (``core.identity.People``): their confirmed email.
    people: PersonIdentifier | None = None
    # The ingestor holds one ingest's state at a time: index commands take turns.
    index_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True, slots=True)
class CommandOptions:
    """The settings commands read (see ``core.settings.Settings`` for each)."""

    admins: tuple[str, ...] = ()
    page_size: int = 10
    timezone: str = "UTC"
    ingest_roots: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> CommandOptions:
        return cls(
            admins=tuple(settings.admins),
            page_size=settings.history_page_size,
            timezone=settings.timezone,
            ingest_roots=tuple(Path(p) for p in settings.ingest_roots),
        )


def is_configured_admin(person: Person, admins: tuple[str, ...]) -> bool:
    """Named in SWITCHBOARD_ADMINS by email, platform user id, or ``platform:user id``."""
    wanted = {a.strip().lower() for a in admins if a.strip()}
    mine = {person.user_id.lower(), f"{person.platform}:{person.user_id}".lower()}
    if person.email:
        mine.add(person.email.strip().lower())
    return bool(wanted & mine)


def actor_name(person: Person) -> str:
    """How the audit log names a person: stable ids, never a display name."""
    return f"{person.platform}:{person.workspace_id}:{person.user_id}"


@dataclass(slots=True)
class CommandContext:
    """One command being run. Commands set ``audit_target``/``audit_details`` to say what
    they acted on, and ``audit_outcome`` when "ok"/"rejected" (from ``reply.ok``) would not
    say it right; the handler writes the audit line (ids and counts only, never content)."""

    request: CommandRequest
    user: UserRecord
    is_admin: bool
    services: CommandServices
    options: CommandOptions
    now: datetime
    progress: ProgressCallback | None = None
    audit_target: str | None = None
    audit_details: dict[str, Any] = field(default_factory=dict)
    audit_outcome: str | None = None

    @property
    def person(self) -> Person:
        return self.request.person

    @property
    def actor(self) -> str:
        return actor_name(self.request.person)

    @property
    def tz(self) -> ZoneInfo:
        for name in (self.request.timezone, self.options.timezone):
            if name:
                try:
                    return ZoneInfo(name)
                except (ZoneInfoNotFoundError, ValueError):
                    continue
        return ZoneInfo("UTC")

    @property
    def scope(self) -> HistoryScope:
        thread = self.request.thread
        person = self.request.person
        shared = thread is not None and thread.kind in (
            ConversationKind.CHANNEL,
            ConversationKind.GROUP,
        )
        return HistoryScope(
            user_id=self.user.id,
            platform=person.platform,
            workspace_id=person.workspace_id,
            channel_id=thread.channel_id if shared and thread is not None else None,
        )

    async def report(self, line: str) -> None:
        if self.progress is not None:
            await self.progress(line)
