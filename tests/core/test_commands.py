"""Commands through CommandHandler against real Postgres: help, roles, refusals, the audit log,
long-running ingest with progress, and the replies an adapter renders."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from bots.runtime import Runtime
from core.commands import CommandHandler, CommandRequest
from core.commands.privacy import CacheForgetting
from core.events import Person
from core.llm.cache import CachedAnswer, MemoryAnswerCache
from tests.support.conversations import (
    Turn,
    ask,
    commands_at,
    rate,
    rows,
    seed_conversation,
    someone,
)

NOW = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)


async def audit(runtime: Runtime) -> list[tuple[str, str, str | None, str, dict]]:
    return [
        (actor, action, target, outcome, details)
        for actor, action, target, outcome, details in await rows(
            runtime.db.pool,
            "SELECT actor, action, target, outcome, details FROM audit_log ORDER BY id",
        )
    ]


async def test_bare_handler_still_explains_itself():
    person = Person("test", "W1", "U1")
    reply = await CommandHandler().handle(CommandRequest.parse(person, None, "help"))
    assert reply.ok and "history" in reply.text and "stats" not in reply.text
    missing = await CommandHandler().handle(CommandRequest.parse(person, None, "history"))
    assert not missing.ok and "isn't available" in missing.title


async def test_help_lists_admin_commands_only_for_admins(runtime: Runtime):
    alice = await someone(runtime, "UA")
    boss = await someone(runtime, "UBOSS", email="Boss@Example.com")
    handler = commands_at(runtime, NOW, admins=("boss@example.com",))

    mine = await ask(handler, alice, "help")
    assert "`history [words]`" in mine.text and "`forget-me`" in mine.text
    assert "`export`" in mine.text and "stats" not in mine.text and "Admin" not in mine.text
    theirs = await ask(handler, boss, "help")
    for usage in (
        "stats [7d|30d]",
        "sources",
        "ingest <url|path> [--allow PRINCIPAL]",
        "reindex",
        "prompts [refresh]",
        "feedback [n]",
        "role @user admin|user",
    ):
        assert f"`{usage}`" in theirs.text
    unknown = await ask(handler, alice, "frobnicate")
    assert not unknown.ok and "frobnicate" in unknown.title and "`history" in unknown.text


async def test_non_admin_stats_is_refused_politely_and_audited(runtime: Runtime):
    alice = await someone(runtime, "UA")
    handler = commands_at(runtime, NOW)

    reply = await ask(handler, alice, "stats 30d")

    assert not reply.ok and reply.facts == []
    assert "admins only" in reply.text and "Sorry" in reply.text
    assert await audit(runtime) == [("test:W1:UA", "stats", "30d", "refused", {})]
    (actor_id,) = (await rows(runtime.db.pool, "SELECT actor_id FROM audit_log"))[0]
    assert actor_id == alice.id


async def test_admins_come_from_settings_by_email_or_id_and_from_the_users_table(runtime: Runtime):
    by_email = await someone(runtime, "U1", email="ops@example.com")
    by_id = await someone(runtime, "U2")
    by_prefixed_id = await someone(runtime, "U3")
    by_role = await someone(runtime, "U4")
    nobody = await someone(runtime, "U5", email="someone@example.com")
    await rows(
        runtime.db.pool, "UPDATE users SET role = 'admin' WHERE id = %s RETURNING id", by_role.id
    )
    handler = commands_at(runtime, NOW, admins=("OPS@example.com", "U2", "test:U3"))

    for who in (by_email, by_id, by_prefixed_id, by_role):
        assert (await ask(handler, who, "stats")).ok, who
    assert not (await ask(handler, nobody, "stats")).ok
    outcomes = [(a[0], a[3]) for a in await audit(runtime)]
    assert outcomes == [
        ("test:W1:U1", "ok"),
        ("test:W1:U2", "ok"),
        ("test:W1:U3", "ok"),
        ("test:W1:U4", "ok"),
        ("test:W1:U5", "refused"),
    ]


async def test_role_promotes_and_demotes_and_each_change_is_audited(runtime: Runtime):
    boss = await someone(runtime, "UBOSS")
    bob = await someone(runtime, "UB", name="Bob")
    handler = commands_at(runtime, NOW, admins=("UBOSS",))

    assert not (await ask(handler, bob, "sources")).ok
    # A refused role change records whom it was aimed at.
    assert not (await ask(handler, bob, "role <@UBOSS|boss> user")).ok
    promoted = await ask(handler, boss, "role <@UB|bob> admin")
    assert promoted.ok and "Bob is now an admin" in promoted.text
    assert (await ask(handler, bob, "sources")).ok
    # Teams mentions arrive resolved to ids, beside the words.
    demoted = await ask(handler, boss, "role Bob user", mentions=("UB",))
    assert demoted.ok and "Bob is now a regular user" in demoted.text
    assert not (await ask(handler, bob, "sources")).ok
    # Someone who never talked to the bot gets the role waiting for them.
    await ask(handler, boss, "role @UNEW admin")
    newcomer = await someone(runtime, "UNEW")
    assert (await ask(handler, newcomer, "sources")).ok

    changes = [a for a in await audit(runtime) if a[1] == "role"]
    assert changes[0][:4] == ("test:W1:UB", "role", "UBOSS", "refused")
    changes = changes[1:]
    assert [(a[0], a[2], a[3], a[4]["role"], a[4]["previous"]) for a in changes] == [
        ("test:W1:UBOSS", "UB", "ok", "admin", ["user"]),
        ("test:W1:UBOSS", "UB", "ok", "user", ["admin"]),
        ("test:W1:UBOSS", "UNEW", "ok", "admin", ["user"]),
    ]
    assert [a[3] for a in await audit(runtime) if a[1] == "sources"] == [
        "refused",
        "ok",
        "refused",
        "ok",
    ]


async def test_role_by_email_and_demoting_a_configured_admin_says_they_stay(runtime: Runtime):
    boss = await someone(runtime, "UBOSS", email="boss@example.com")
    carol = await someone(runtime, "UC", email="carol@example.com")
    handler = commands_at(runtime, NOW, admins=("boss@example.com",))

    # Slack links an email typed in a slash command.
    assert (await ask(handler, boss, "role <mailto:carol@example.com|carol@example.com> admin")).ok
    assert (await ask(handler, carol, "stats")).ok
    unknown = await ask(handler, boss, "role nobody@example.com admin")
    assert not unknown.ok and "don't know" in unknown.title
    self_demote = await ask(handler, boss, "role boss@example.com user")
    assert "stay an admin while SWITCHBOARD_ADMINS" in self_demote.text
    assert (await ask(handler, boss, "stats")).ok
    usage = await ask(handler, boss, "role carol@example.com")
    assert not usage.ok and "role @someone admin" in usage.text
    assert [a[3] for a in await audit(runtime) if a[1] == "role"] == [
        "ok",
        "rejected",
        "ok",
        "rejected",
    ]


async def test_feedback_shows_latest_thumbs_down_with_question_answer_reasons_and_comment(
    runtime: Runtime,
):
    boss, alice = await someone(runtime, "UBOSS"), await someone(runtime, "UA")
    pool = runtime.db.pool
    older = await seed_conversation(
        pool,
        [
            Turn(
                alice,
                "How many days of annual leave?",
                NOW - timedelta(days=2),
                answer="You get 25 days [1].",
            ),
        ],
        thread="f1",
    )
    newer = await seed_conversation(
        pool,
        [
            Turn(
                alice,
                "Can I expense a taxi?",
                NOW - timedelta(days=1),
                answer="Taxis are fine after 22:00. " + "More detail. " * 60,
            ),
        ],
        thread="f2",
    )
    liked = await seed_conversation(
        pool,
        [
            Turn(alice, "Where is the VPN guide?", NOW - timedelta(hours=1)),
        ],
        thread="f3",
    )
    await rate(
        pool,
        older.answer_ids[0],
        alice,
        -1,
        at=NOW - timedelta(days=2),
        reasons=["inaccurate"],
        comment="It is 27 in Lisbon",
    )
    await rate(
        pool,
        newer.answer_ids[0],
        alice,
        -1,
        at=NOW - timedelta(days=1),
        reasons=["incomplete", "missing_citations"],
    )
    await rate(pool, liked.answer_ids[0], alice, 1, at=NOW)
    handler = commands_at(runtime, NOW, admins=("UBOSS",))

    reply = await ask(handler, boss, "feedback 5")
    assert reply.title == "The latest 2 👎"
    first, second = reply.sections
    assert "Q: Can I expense a taxi?" in first and "A: Taxis are fine after 22:00." in first
    assert first.endswith("Reasons: incomplete, missing citations") and "…" in first
    assert "Q: How many days of annual leave?" in second
    assert "Reasons: inaccurate" in second and "Comment: It is 27 in Lisbon" in second
    only_one = await ask(handler, boss, "feedback 1")
    assert len(only_one.sections) == 1 and "taxi" in only_one.sections[0]
    assert [a[4] for a in await audit(runtime)] == [{"limit": 5}, {"limit": 1}]


async def test_ingest_reports_progress_then_a_result_and_is_audited(
    runtime: Runtime, knowledge_dir: Path
):
    boss = await someone(runtime, "UBOSS")
    handler = commands_at(runtime, NOW, admins=("UBOSS",), ingest_roots=(knowledge_dir,))
    progress: list[str] = []

    async def show(line: str) -> None:
        progress.append(line)

    request = CommandRequest.parse(boss.person, boss.dm(), f"ingest {knowledge_dir / 'it'}")
    reply = await handler.handle(request, progress=show)

    files = len([p for p in (knowledge_dir / "it").iterdir()])
    assert progress[0] == f"Reading {files} files…"
    assert progress[1:] == [f"{n} of {files} files read…" for n in (3, 5, 8)]
    facts = {f.label: f.value for f in reply.facts}
    assert reply.ok and facts["Added"] == str(files) and facts["Unchanged"] == "0"
    (entry,) = [a for a in await audit(runtime) if a[1] == "ingest"]
    assert entry[2] == str(knowledge_dir / "it") and entry[3] == "ok"
    assert entry[4]["added"] == files and entry[4]["chunks"] > files
    # The folder is remembered, so the reingest job keeps it fresh.
    assert await rows(runtime.db.pool, "SELECT uri, added_by FROM knowledge_sources") == [
        (str(knowledge_dir / "it"), "test:W1:UBOSS")
    ]
    sources = await ask(handler, boss, "sources")
    assert "folder / it" in sources.text and str(knowledge_dir / "it") in sources.text


async def test_ingest_outside_the_allowed_folders_is_refused(runtime: Runtime, tmp_path: Path):
    boss = await someone(runtime, "UBOSS")
    handler = commands_at(runtime, NOW, admins=("UBOSS",), ingest_roots=(tmp_path / "docs",))
    reply = await ask(handler, boss, "ingest /etc")
    assert not reply.ok and "SWITCHBOARD_INGEST_ROOTS" in reply.text
    assert await rows(runtime.db.pool, "SELECT count(*) FROM documents") == [(0,)]
    assert [(a[1], a[2], a[3]) for a in await audit(runtime)] == [("ingest", "/etc", "rejected")]


async def test_reindex_rereads_changed_files_and_drops_deleted_ones(
    runtime: Runtime, knowledge_dir: Path
):
    boss = await someone(runtime, "UBOSS")
    handler = commands_at(runtime, NOW, admins=("UBOSS",), ingest_roots=(knowledge_dir,))
    assert (await ask(handler, boss, f"ingest {knowledge_dir / 'hr'}")).ok
    report = await runtime.ingestor.ingest([knowledge_dir / "it" / "laptops.md"])
    assert report.added == 1
    (knowledge_dir / "hr" / "sick-leave.md").unlink()
    (knowledge_dir / "it" / "laptops.md").write_text("# Laptops\n\nEveryone gets a new laptop.\n")

    reply = await ask(handler, boss, "reindex")

    facts = {f.label: f.value for f in reply.facts}
    assert reply.ok
    assert (facts["Updated"], facts["Removed"]) == ("1", "1")
    assert facts["Unchanged"] == str(len(list((knowledge_dir / "hr").iterdir())))
    uris = {u for (u,) in await rows(runtime.db.pool, "SELECT uri FROM documents")}
    assert str(knowledge_dir / "hr" / "sick-leave.md") not in uris
    assert str(knowledge_dir / "it" / "laptops.md") in uris


async def test_prompts_shows_the_current_set_and_refresh_needs_the_job(runtime: Runtime):
    boss = await someone(runtime, "UBOSS")
    handler = commands_at(runtime, NOW, admins=("UBOSS",))
    shown = await ask(handler, boss, "prompts")
    assert shown.ok and "1. How do I reset my password?" in shown.text
    refresh = await ask(handler, boss, "prompts refresh")
    assert not refresh.ok and "weekly-prompts job is not set up" in refresh.text


async def test_forget_me_asks_before_deleting(runtime: Runtime):
    alice = await someone(runtime, "UA")
    await seed_conversation(
        runtime.db.pool,
        [
            Turn(alice, "How do I reset my password?", NOW - timedelta(hours=1)),
        ],
        thread="x",
    )
    handler = commands_at(runtime, NOW)

    asked = await ask(handler, alice, "forget-me")
    assert "1 conversation, 2 messages and 0 feedback ratings" in asked.text
    (confirm,) = asked.actions
    assert confirm.style == "danger" and confirm.command == "forget-me confirm"
    assert await rows(runtime.db.pool, "SELECT count(*) FROM messages") == [(2,)]

    done = await ask(handler, alice, confirm.command)
    assert done.ok and "Deleted 1 conversation, 2 messages" in done.text
    assert await rows(runtime.db.pool, "SELECT count(*) FROM messages") == [(0,)]
    assert [(a[1], a[3], a[4]["step"]) for a in await audit(runtime)] == [
        ("forget-me", "ok", "asked"),
        ("forget-me", "ok", "deleted"),
    ]


async def test_export_hands_over_a_json_file(runtime: Runtime):
    alice = await someone(runtime, "UA", email="alice@example.com")
    await seed_conversation(
        runtime.db.pool,
        [
            Turn(alice, "How do I reset my password?", NOW - timedelta(hours=1)),
        ],
        thread="x",
    )
    reply = await ask(commands_at(runtime, NOW), alice, "export")
    assert reply.file_name == "switchboard-export-2025-03-31.json"
    assert reply.file_type == "application/json"
    data = json.loads(reply.file_content or b"")
    assert data["user"]["email"] == "alice@example.com"
    assert [m["text"] for m in data["conversations"][0]["messages"]] == [
        "How do I reset my password?",
        "Here is what I found.",
    ]
    (entry,) = await audit(runtime)
    assert entry[1:4] == ("export", "test:W1:UA", "ok")
    assert entry[4]["messages"] == 2 and "How do I" not in json.dumps(entry[4])


def test_chat_messages_are_told_apart_from_questions():
    handler = CommandHandler()
    for text in (
        "help",
        "/help",
        "history",
        "history vpn token",
        "stats 30d",
        "stats",
        "feedback 10",
        "forget-me",
        "forget-me confirm",
        "export",
        "sources",
        "role <@U1> admin",
        "prompts refresh",
        "ingest https://intranet/x",
        "reindex",
        "/anything at all",
    ):
        assert handler.is_command(text), text
    for text in (
        "help me reset my password",
        "history of the company?",
        "export my data",
        "stats for my team?",
        "feedback on the new policy",
        "How do I reset it?",
        "",
        "role of HR in onboarding",
        "sources of truth for payroll",
    ):
        assert not handler.is_command(text), text


async def test_ingest_of_a_web_page_indexes_it_and_a_broken_page_is_reported(runtime: Runtime):
    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text="<html><head><title>Canteen hours</title></head><body><main>"
            "<h1>Canteen hours</h1><p>The canteen opens at 11:30 on weekdays.</p>"
            "</main></body></html>",
            content_type="text/html",
        )

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_get("/canteen", page)
    app.router.add_get("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        boss = await someone(runtime, "UBOSS")
        handler = commands_at(runtime, NOW, admins=("UBOSS",))
        url = str(server.make_url("/canteen"))
        lines: list[str] = []

        async def show(line: str) -> None:
            lines.append(line)

        request = CommandRequest.parse(boss.person, boss.dm(), f"ingest <{url}|{url}>")
        reply = await handler.handle(request, progress=show)
        assert reply.ok and {f.label: f.value for f in reply.facts}["Added"] == "1"
        assert lines == [f"Reading {url}…"]
        assert await rows(runtime.db.pool, "SELECT uri, source, title FROM documents") == [
            (url, "web", "Canteen hours")
        ]
        bad = await ask(handler, boss, f"ingest {server.make_url('/broken')}")
        assert "could not be read" in bad.text and "500" in bad.text
        outcomes = [(a[1], a[3]) for a in await audit(runtime)]
        assert outcomes == [("ingest", "ok"), ("ingest", "partial")]
    finally:
        await server.close()


async def test_ingest_of_the_servers_own_metrics_is_refused_and_nothing_is_indexed(
    runtime: Runtime,
):
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="switchboard_answers_total 42\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        boss = await someone(runtime, "UBOSS")
        handler = commands_at(runtime, NOW, admins=("UBOSS",), allowed_hosts=())
        reply = await ask(handler, boss, f"ingest {server.make_url('/metrics')}")
        assert "inside the company network; ask an operator to allow it" in reply.text
        assert await rows(runtime.db.pool, "SELECT count(*) FROM documents") == [(0,)]
        assert [(a[1], a[3]) for a in await audit(runtime)] == [("ingest", "refused")]
        # Not remembered as a source for the hourly reingest either.
        assert await rows(runtime.db.pool, "SELECT count(*) FROM knowledge_sources") == [(0,)]
    finally:
        await server.close()


async def test_two_ingests_take_turns_and_each_reports_its_own_files(
    runtime: Runtime, knowledge_dir: Path
):
    boss = await someone(runtime, "UBOSS")
    handler = commands_at(runtime, NOW, admins=("UBOSS",), ingest_roots=(knowledge_dir,))
    lines: dict[str, list[str]] = {"hr": [], "it": []}

    async def run(folder: str) -> dict[str, str]:
        async def show(line: str) -> None:
            lines[folder].append(line)

        request = CommandRequest.parse(boss.person, boss.dm(), f"ingest {knowledge_dir / folder}")
        reply = await handler.handle(request, progress=show)
        return {f.label: f.value for f in reply.facts}

    hr, it = await asyncio.gather(run("hr"), run("it"))

    assert hr["Added"] == str(len(list((knowledge_dir / "hr").iterdir())))
    assert it["Added"] == str(len(list((knowledge_dir / "it").iterdir())))
    assert lines["it"][0] == "Another ingest is running; yours starts when it ends…"
    assert await rows(runtime.db.pool, "SELECT count(*) FROM documents") == [
        (int(hr["Added"]) + int(it["Added"]),)
    ]


async def test_an_ingest_that_changes_documents_drops_cached_answers(
    runtime: Runtime, knowledge_dir: Path
):
    boss = await someone(runtime, "UBOSS")
    cache = MemoryAnswerCache(ttl=3600)
    handler = commands_at(
        runtime,
        NOW,
        admins=("UBOSS",),
        ingest_roots=(knowledge_dir,),
        answer_cache=CacheForgetting(cache),
    )
    assert (await ask(handler, boss, f"ingest {knowledge_dir / 'it'}")).ok
    await cache.put("it", "How do I reset my password?", CachedAnswer(text="Old answer"))
    # Nothing changed: the cached answer stays.
    assert (await ask(handler, boss, "reindex")).ok
    assert await cache.get("it", "How do I reset my password?") is not None
    (knowledge_dir / "it" / "password-reset.md").write_text("# Password reset\n\nCall 4444.\n")
    assert (await ask(handler, boss, "reindex")).ok
    assert await cache.get("it", "How do I reset my password?") is None
