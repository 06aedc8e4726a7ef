"""``ingest <url|path>`` and ``reindex``: long-running admin commands that report progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol, Self

import structlog

from core.commands.audience import restrict, split_allow
from core.commands.context import CommandContext
from core.commands.help import CommandSpec
from core.commands.reply import CommandReply, Fact, unwrap
from core.commands.stores import UrlIngest
from core.ingest.connectors.addresses import REFUSAL
from core.ingest.connectors.base import Source
from core.ingest.connectors.web import WebPages
from core.ingest.pipeline import IngestReport

log = structlog.get_logger(__name__)

_MILESTONES = (0.25, 0.5, 0.75)


class SourceIngestor(Protocol):
    """``core.ingest.Ingestor``'s remote-source door."""

    async def ingest_source(self, source: Source) -> IngestReport: ...


class _ProgressLines:
    """Turns the ingestor's per-file callbacks (plain functions) into a few progress lines,
    sent on to the adapter's async callback in order, without holding up the ingest."""

    def __init__(self, ctx: CommandContext) -> None:
        self._ctx = ctx
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._total = 0
        self._done = 0
        self._next = 0
        self._task: asyncio.Task[None] | None = None

    def total(self, count: int) -> None:
        self._total = count
        self._queue.put_nowait(f"Reading {count:,} file{'s' * (count != 1)}…")

    def file_done(self, path: str) -> None:
        self._done += 1
        # A few milestones, not a line per file: each line becomes a platform call.
        if (
            self._next < len(_MILESTONES)
            and self._total >= 8
            and self._done >= self._total * _MILESTONES[self._next]
        ):
            self._next += 1
            self._queue.put_nowait(f"{self._done:,} of {self._total:,} files read…")

    def say(self, line: str) -> None:
        self._queue.put_nowait(line)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._drain())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task

    async def _drain(self) -> None:
        while (line := await self._queue.get()) is not None:
            try:
                await self._ctx.report(line)
            except Exception:
                # A progress message that cannot be shown must not stop the ingest.
                log.warning("command_progress_failed", exc_info=True)


def _is_url(target: str) -> bool:
    return target.lower().startswith(("http://", "https://"))


def _allowed(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


@asynccontextmanager
async def _index_turn(ctx: CommandContext) -> AsyncIterator[None]:
    lock = ctx.services.index_lock
    if lock.locked():
        await ctx.report("Another ingest is running; yours starts when it ends…")
    async with lock:
        yield


async def _result(title: str, report: IngestReport, ctx: CommandContext) -> CommandReply:
    changed = report.added + report.updated + report.removed
    if changed and ctx.services.answer_cache is not None:
        # Cached answers may quote what just changed.
        await ctx.services.answer_cache.documents_changed()
    ctx.audit_details.update(
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        removed=report.removed,
        chunks=report.chunks,
        failed=len(report.failed),
    )
    ctx.audit_outcome = "ok" if not report.failed else "partial"
    facts = [
        Fact("Added", f"{report.added:,}"),
        Fact("Updated", f"{report.updated:,}"),
        Fact("Unchanged", f"{report.unchanged:,}"),
        Fact("Removed", f"{report.removed:,}"),
        Fact("Chunks written", f"{report.chunks:,}"),
    ]
    sections = []
    if report.failed:
        shown = "\n".join(
            f"• {Path(where).name or where}: {why}" for where, why in report.failed[:5]
        )
        more = len(report.failed) - 5
        sections.append(
            f"{len(report.failed)} could not be read:\n{shown}"
            + (f"\n…and {more} more" if more > 0 else "")
        )
    sections.extend(report.notes[:3])
    return CommandReply(title=title, facts=facts, sections=sections)


async def run_ingest(ctx: CommandContext) -> CommandReply:
    words, allow = split_allow(" ".join(ctx.request.args))
    target = unwrap(words)
    if not target:
        return CommandReply(
            title="What should I read?",
            sections=["Use `ingest https://…` or `ingest /path`."],
            ok=False,
        )
    ctx.audit_target = target
    if _is_url(target):
        if ctx.services.url_ingest is None:
            return CommandReply(
                title="I can't read web pages here",
                sections=["Web ingestion is not set up in this deployment."],
                ok=False,
            )
        if (refused := await restrict(ctx, target, allow)) is not None:
            return refused
        async with _index_turn(ctx):
            await ctx.report(f"Reading {target}…")
            report = await ctx.services.url_ingest(target)
        if report.failed and all(REFUSAL in why for _, why in report.failed):
            # Not remembered as a source: the reingest would only be refused again.
            ctx.audit_outcome = "refused"
            return CommandReply(
                title="I can't read that address",
                sections=[f"{target}: {REFUSAL} (SWITCHBOARD_INGEST_ALLOWED_HOSTS)."],
                ok=False,
            )
        await ctx.services.admin.remember_source(target, ctx.actor)
        return await _result(f"Ingested {target}", report, ctx)

    path = Path(target).expanduser().resolve()
    roots = tuple(root.expanduser().resolve() for root in ctx.options.ingest_roots)
    if not _allowed(path, roots):
        # Chat admins are not necessarily server operators: only folders set aside for it.
        where = ", ".join(str(r) for r in roots) or "none configured"
        return CommandReply(
            title="I can't read that path",
            sections=[
                (
                    "From chat I only read folders listed in SWITCHBOARD_INGEST_ROOTS "
                    f"({where}). Use `switchboard ingest` on the server for anything else."
                )
            ],
            ok=False,
        )
    if not path.exists():
        return CommandReply(title="Nothing there", sections=[f"{path} does not exist."], ok=False)
    if (refused := await restrict(ctx, str(path), allow)) is not None:
        return refused
    async with _index_turn(ctx), _ProgressLines(ctx) as lines:
        report = await ctx.services.ingestor.ingest(
            [path], on_file=lines.file_done, total=lines.total
        )
    await ctx.services.admin.remember_source(str(path), ctx.actor)
    return await _result(f"Ingested {path.name or path}", report, ctx)


async def run_reindex(ctx: CommandContext) -> CommandReply:
    """Re-read every remembered folder and page and every indexed file: what changed is
    re-chunked and re-embedded, what vanished is dropped. Other sources (SharePoint,
    Confluence) are kept fresh by the hourly reingest job."""
    async with _index_turn(ctx):
        return await _reindex(ctx)


async def _reindex(ctx: CommandContext) -> CommandReply:
    admin = ctx.services.admin
    documents = await admin.indexed_documents()
    watched = [w.uri for w in await admin.watched_sources()]
    folders = [Path(uri) for uri in watched if not _is_url(uri) and Path(uri).is_dir()]
    # Files indexed some other way (a single file, the bundled samples) are re-read one by one.
    # A file's uri is where it lives on the server (its path is only how sources show it).
    files = [
        (uri, Path(uri))
        for uri, source, _ in documents
        if source == "folder" and not any(Path(uri).is_relative_to(f) for f in folders)
    ]
    present = [path for _, path in files if path.exists()]
    gone = [uri for uri, path in files if not path.exists()]
    pages = sorted({u for u in watched if _is_url(u)} | {u for u, s, _ in documents if s == "web"})
    async with _ProgressLines(ctx) as lines:
        report = await ctx.services.ingestor.ingest(
            [*folders, *present], on_file=lines.file_done, total=lines.total
        )
        if gone:
            report.removed += await admin.remove_documents(gone)
        if pages and ctx.services.url_ingest is not None:
            lines.say(f"Reading {len(pages):,} web page{'s' * (len(pages) != 1)}…")
            for url in pages:
                _merge(report, await ctx.services.url_ingest(url))
    reply = await _result("Reindex finished", report, ctx)
    if pages and ctx.services.url_ingest is None:
        reply.sections.append(f"{len(pages)} web pages were left as they were.")
    return reply


def _merge(into: IngestReport, other: IngestReport) -> None:
    into.added += other.added
    into.updated += other.updated
    into.unchanged += other.unchanged
    into.removed += other.removed
    into.chunks += other.chunks
    into.failed.extend(other.failed)


COMMANDS = (
    CommandSpec(
        "ingest",
        "ingest <url|path> [--allow PRINCIPAL]",
        "read a web page or a server folder into the index (only for PRINCIPAL: an email or "
        "group:<name>)",
        run_ingest,
        admin=True,
        # The target, then any --allow (a bare one too: it is refused with a reason, not taken
        # for a question).
        args=r"\S+(?:\s+--allow\b.*)?",
    ),
    CommandSpec(
        "reindex",
        "reindex",
        "re-read everything indexed; drop what is gone",
        run_reindex,
        admin=True,
    ),
)


def web_page_ingest(
    ingestor: SourceIngestor, *, timeout: float, allowed_hosts: Sequence[str] = ()
) -> UrlIngest:
    """``ingest https://…`` through the web connector: one page, fetched and indexed (public
    addresses and ``allowed_hosts`` only)."""

    async def ingest_page(url: str) -> IngestReport:
        pages = WebPages([url], timeout=timeout, allowed_hosts=allowed_hosts)
        try:
            return await ingestor.ingest_source(pages)
        finally:
            await pages.aclose()

    return ingest_page
