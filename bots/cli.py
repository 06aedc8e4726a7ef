"""The ``switchboard`` command: serve, ask, ingest, migrate, jobs."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bots.runtime import Runtime
from bots.settings import AppSettings
from core.answers import Answer
from core.console import CollectingReplyStream, ConsoleReplyStream
from core.errors import InvalidQuestion, RateLimited, SwitchboardError
from core.events import ChatEvent, ConversationKind, Person, ThreadRef
from core.identity.principals import UnknownPrincipal
from core.ingest.pipeline import IngestReport
from core.observability import configure_logging, new_request_id
from core.settings import Settings, explain


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard", description="An enterprise assistant for Slack and Microsoft Teams."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server (Slack, Teams, health, metrics)")
    serve.add_argument("--port", type=int, help="port to listen on (default 3978 or $PORT)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")

    ask = commands.add_parser("ask", help="ask one question, streamed to the terminal")
    ask.add_argument("question", nargs="+", help="the question")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead")
    ask.add_argument("--user", default=None, help="ask as this user id (default: you)")
    ask.add_argument("--thread", default=None, help="continue this thread (default: a new one)")
    ask.add_argument("--as", dest="as_email", metavar="EMAIL", default=None,
                     help="ask as this person: their documents and groups, as the server sees them")
    ask.add_argument("--group", action="append", default=[], metavar="NAME",
                     help="with --as: count them in this group too (tests and demos; repeatable)")

    ingest = commands.add_parser(
        "ingest", help="index files, folders, web pages, SharePoint or Confluence"
    )
    ingest.add_argument(
        "paths",
        nargs="*",
        metavar="PATH|URL|SOURCE",
        help="a file or folder, a web address, 'sharepoint', or 'confluence[:SPACE]'",
    )
    ingest.add_argument(
        "--allow", action="append", default=[], metavar="PRINCIPAL",
        help="only these may read what is ingested: an email, group:<Entra group id or name>, "
        "or everyone (repeatable; default: as set before, else everyone)",
    )
    ingest.add_argument(
        "--permissions-only", action="store_true",
        help="apply the audiences set with --allow again, without reading any content",
    )

    access = commands.add_parser(
        "access", help="who may read each restricted document (and whether a person may)"
    )
    access.add_argument("text", nargs="?", default=None,
                        help="only documents whose title or location contains this")
    access.add_argument("--as", dest="as_email", metavar="EMAIL", default=None,
                        help="say for each whether this person may read it, groups resolved "
                        "as the server does")
    access.add_argument("--group", action="append", default=[], metavar="NAME",
                        help="with --as: count them in this group too (repeatable)")

    commands.add_parser("migrate", help="apply database migrations")

    jobs = commands.add_parser("jobs", help="list the scheduled jobs, or run one now")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    job_commands.add_parser("list", help="each job, its schedule and its last run")
    run = job_commands.add_parser("run", help="run one job now and print what it did")
    run.add_argument("name", help="weekly-prompts, reingest, retention or summaries")

    package = commands.add_parser("teams-package", help="build the Teams app zip to upload")
    package.add_argument("--app-id", help="the bot's app id (default: $MICROSOFT_APP_ID)")
    package.add_argument("--domain", action="append", default=[], metavar="HOST",
                         help="a host the app may open, e.g. bot.example.com (repeatable)")
    package.add_argument("--version", dest="app_version", help="the app's version, e.g. 1.0.1")
    package.add_argument("--output", type=Path, default=Path("dist/switchboard-teams.zip"))
    return parser


def answer_json(answer: Answer) -> dict[str, Any]:
    """The ``ask --json`` object."""
    usage = answer.usage
    return {
        "answer": answer.text,
        "status": answer.status,
        # Whether the text shown was checked against its passages, and what the check found.
        "grounded": answer.grounding.grounded,
        "grounding": answer.grounding.to_dict(),
        "citations": [
            {
                "n": c.n,
                "title": c.title,
                **({"url": c.url} if c.url else {"path": c.path}),
                **({"page": c.page} if c.page is not None else {}),
                **({"section": c.section} if c.section else {}),
                "snippet": c.snippet,
            }
            for c in answer.citations
        ],
        "sources": [
            {
                "rank": rank,
                "title": p.title,
                **({"url": p.url} if p.url else {"path": p.path}),
                **({"page": p.page} if p.page is not None else {}),
                **({"section": p.section} if p.section else {}),
                "domain": p.domain,
                "score": round(p.score, 6),
            }
            for rank, p in enumerate(answer.sources, start=1)
        ],
        "route": answer.route.to_dict() if answer.route else None,
        "timings": {
            "retrieval_ms": _ms(usage.retrieval_ms),
            "ttft_ms": _ms(usage.ttft_ms),
            "total_ms": _ms(usage.total_ms),
        },
        "model": usage.model,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": round(usage.cost_usd, 6),
        },
        "conversation_id": answer.conversation_id,
        "message_id": answer.message_id,
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def _ask(settings: Settings, args: argparse.Namespace) -> int:
    question = " ".join(args.question)
    user = args.as_email or args.user or getpass.getuser()
    thread_id = args.thread or uuid.uuid4().hex
    event = ChatEvent(
        person=Person(
            platform="cli", workspace_id="local", user_id=user, display_name=user,
            email=args.as_email.strip().lower() if args.as_email else None,
        ),
        thread=ThreadRef(
            platform="cli",
            workspace_id="local",
            channel_id=f"cli:{user}",
            thread_id=thread_id,
            kind=ConversationKind.DM,
        ),
        text=question,
        event_key=f"cli:{uuid.uuid4().hex}",
    )
    new_request_id()
    async with await Runtime.start(settings) as runtime:
        if args.as_email and args.group:
            runtime.people.assume(args.as_email, args.group)
        if args.json:
            collected = CollectingReplyStream()
            try:
                answer = await runtime.assistant.handle(event, collected)
            except (InvalidQuestion, RateLimited) as exc:
                print(json.dumps({"error": str(exc)}, ensure_ascii=False))
                return 2
            print(json.dumps({**answer_json(answer), "thread": thread_id}, ensure_ascii=False))
        else:
            try:
                answer = await runtime.assistant.handle(event, ConsoleReplyStream())
            except (InvalidQuestion, RateLimited):
                return 2  # the stream has told the user why
            if args.thread is None:
                print(f"\n(continue this conversation with --thread {thread_id})", file=sys.stderr)
    # A declined question (not_found) was answered: "the documents don't cover it".
    return 0 if answer.status in {"complete", "verified", "not_found"} else 1


class _Progress:
    """A progress bar on a terminal; nothing otherwise (the summary line follows anyway)."""

    def __init__(self) -> None:
        self._bar: Any = None

    def total(self, count: int) -> None:
        if sys.stderr.isatty() and count:
            from tqdm import tqdm

            self._bar = tqdm(total=count, unit="file", desc="Ingesting", file=sys.stderr)

    def step(self, path: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(Path(path).name[-40:], refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


async def _ingest(settings: Settings, targets: Sequence[str]) -> int:
    from bots.audiences import CountingSink
    from core.ingest.connectors.permissions import mirror_into
    from core.ingest.sources import is_remote_target, sources_for
    from store.sources import KnowledgeSources

    paths = [Path(t) for t in targets if not is_remote_target(t)]
    remote = [t for t in targets if is_remote_target(t)]
    for target in remote:
        for source in sources_for(target, settings):  # a missing setting stops us before any work
            await source.aclose()
    report = IngestReport()
    async with await Runtime.start(settings) as runtime:
        if paths or not remote:
            progress = _Progress()
            try:
                report = await runtime.ingestor.ingest(
                    paths, on_file=progress.step, total=progress.total
                )
            finally:
                progress.close()
        audiences = CountingSink(runtime.audiences)
        for target in remote:
            for source in sources_for(target, settings):
                mirror_into([source], audiences)
                try:
                    part = await runtime.ingestor.ingest_source(source)
                except SwitchboardError as exc:
                    # The listing failed: nothing was changed for this source.
                    report.failed.append((target, str(exc)))
                    continue
                finally:
                    await source.aclose()
                report.merge(part)
        failed = {where for where, _ in report.failed}
        sources = KnowledgeSources(runtime.db.pool)
        for target in targets:
            # Remembered, so the hourly reingest job keeps it fresh.
            uri = target if is_remote_target(target) else str(Path(target).expanduser().resolve())
            if target not in failed and uri not in failed and (is_remote_target(target) or Path(uri).exists()):
                await sources.add(uri, added_by="cli")
        changed = report.added + report.updated + report.removed + audiences.changed
        if changed and runtime.answer_cache is not None:
            # Cached answers may quote what just changed (with Redis, every replica's cache).
            await runtime.answer_cache.invalidate()
    for path, error in report.failed:
        print(f"error: {error}", file=sys.stderr)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"Ingest: {report.summary()}")
    return 1 if report.failed else 0


async def _drop_cached_answers(settings: Settings) -> None:
    """Audiences changed: a cached answer may quote a document its askers may no longer read
    (with Redis, every replica's cache)."""
    async with await Runtime.start(settings) as runtime:
        if runtime.answer_cache is not None:
            await runtime.answer_cache.invalidate()


async def _ingest_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ingest``: with ``--allow``, the audience is set before anything is stored (a new
    document is never public for a moment); ``--permissions-only`` reads no content."""
    from bots.audiences import set_audiences

    if not args.paths and not args.permissions_only:
        print("error: name what to ingest (a path, a URL or a source)", file=sys.stderr)
        return 2
    try:
        changed = await set_audiences(settings, args.paths, args.allow, args.permissions_only)
    except UnknownPrincipal as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SwitchboardError:
        # A source failed part-way (e.g. a Confluence space whose permissions cannot be read
        # is closed first): audiences may have changed, so no cached answer outlives them.
        await _drop_cached_answers(settings)
        raise
    if changed:
        await _drop_cached_answers(settings)
    if args.permissions_only:
        print(f"Permissions: {changed} document(s) changed audience")
        return 0
    return await _ingest(settings, args.paths)  # paths, URLs or sources


async def _access(settings: Settings, args: argparse.Namespace) -> int:
    """``access``: the restricted documents and their readers; with ``--as``, whether that
    person may read each (their principals as a question of theirs would have them)."""
    async with await Runtime.start(settings) as runtime:
        public, restricted = await runtime.audiences.restricted(args.text)
        principals: set[str] | None = None
        if args.as_email:
            email = args.as_email.strip().lower()
            if args.group:
                runtime.people.assume(email, args.group)
            scope = await runtime.people.scope(
                Person(platform="cli", workspace_id="local", user_id=email, email=email)
            )
            if not scope.checked:
                print(f"note: {email}'s groups could not be checked (Microsoft Graph); "
                      "restricted documents are closed to them until they can be.",
                      file=sys.stderr)
            principals = set(scope.principals)
    print(f"{public} public document(s); {len(restricted)} restricted"
          + (f" matching {args.text!r}" if args.text else "") + ".")
    for document in restricted:
        readers = ", ".join(document.audience) or "no one here"
        verdict = ""
        if principals is not None:
            verdict = "  [may read]" if principals & set(document.audience) else "  [may not read]"
        print(f"- {document.title} ({document.location}){verdict}\n    readers: {readers}")
    return 0


async def _migrate(settings: Settings) -> int:
    from store.database import Database
    from store.migrate import apply_migrations

    async with (
        await Database.connect(settings, migrate=False) as db,
        db.pool.connection() as conn,
    ):
        applied = await apply_migrations(conn)
    print(
        "Applied " + ", ".join(f"{m.version:04d}_{m.name}" for m in applied)
        if applied
        else "Database is up to date."
    )
    return 0


async def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.report import job_table, run_report

    async with await Runtime.start(settings) as runtime:
        assert runtime.jobs is not None
        if args.jobs_command == "list":
            from store.jobs import JobRunStore

            print(job_table(runtime.jobs, await JobRunStore(runtime.db.pool).last_runs()))
            return 0
        report = await runtime.jobs.run_now(args.name)
    print(run_report(report))
    return 1 if report.run.outcome == "failed" else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = AppSettings()
        overrides: dict[str, Any] = {}
        if getattr(args, "port", None) is not None:
            overrides["port"] = args.port
        if getattr(args, "host", None):
            overrides["host"] = args.host
        if overrides:
            settings = settings.model_copy(update=overrides)
    except ValidationError as exc:
        # explain() names each variable without echoing values (they may be secrets).
        print(f"error: invalid settings:\n{explain(exc)}", file=sys.stderr)
        return 2
    serving = args.command == "serve"
    configure_logging(
        level=settings.log_level if serving else "WARNING",
        json=_json_logs(settings.log_format) if serving else False,
    )
    try:
        if serving:
            from bots.ports import PortInUse, ensure_port_free
            from bots.server import serve

            try:
                ensure_port_free(settings.host, settings.port)
            except PortInUse as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            asyncio.run(serve(settings))
            return 0
        if args.command == "ask":
            return asyncio.run(_ask(settings, args))
        if args.command == "ingest":
            return asyncio.run(_ingest_command(settings, args))
        if args.command == "access":
            return asyncio.run(_access(settings, args))
        if args.command == "jobs":
            return asyncio.run(_jobs(settings, args))
        if args.command == "teams-package":
            from bots.teams.package import build_package
            from bots.teams.settings import TeamsSettings

            built = build_package(
                app_id=args.app_id or TeamsSettings.of(settings).microsoft_app_id,
                output=args.output,
                domains=tuple(args.domain),
                version=args.app_version,
            )
            print(f"Wrote {built.path} for app {built.app_id} (valid domains: "
                  f"{', '.join(built.domains) or 'none'}). Upload it in Teams: Apps > Manage "
                  "your apps > Upload an app (docs/teams-setup.md).")
            return 0
        return asyncio.run(_migrate(settings))
    except SwitchboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _json_logs(log_format: str) -> bool:
    """JSON unless asked for console lines, or left on "auto" with a person at a terminal."""
    if log_format == "auto":
        return not sys.stderr.isatty()
    return log_format == "json"


if __name__ == "__main__":
    sys.exit(main())
