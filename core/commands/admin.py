"""Admin commands that read or change settings: stats, sources, feedback, role, prompts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.commands.context import CommandContext, is_configured_admin
from core.commands.help import CommandSpec
from core.commands.reply import CommandReply, Fact, unwrap
from core.commands.stats_csv import run_stats_csv
from core.commands.stores import UsageStats
from core.events import Person
from core.limits import KIND_LABELS, LimitHitSummary

MAX_STATS_DAYS = 90
MAX_FEEDBACK = 20
MAX_LIMITED = 10
_DAYS = re.compile(r"^(\d{1,3})d?$")
_BARS = "▁▂▃▄▅▆▇█"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _spark(counts: list[int]) -> str:
    top = max(counts, default=0)
    if top == 0:
        return _BARS[0] * len(counts)
    return "".join(_BARS[min(len(_BARS) - 1, round(c / top * (len(_BARS) - 1)))] for c in counts)


def stats_reply(stats: UsageStats, days: int) -> CommandReply:
    share = stats.thumbs_up_share
    facts = [
        Fact("Conversations", f"{stats.conversations:,}"),
        Fact("Messages", f"{stats.messages:,} ({stats.questions:,} questions)"),
        Fact("Active users", f"{stats.active_users:,}"),
        Fact(
            "👍 share",
            "no ratings yet"
            if share is None
            else f"{share:.0%} of {stats.thumbs_up + stats.thumbs_down:,} ratings",
        ),
        Fact("Time to first token", f"p50 {_ms(stats.ttft_p50_ms)} · p95 {_ms(stats.ttft_p95_ms)}"),
        Fact("Total answer time", f"p50 {_ms(stats.total_p50_ms)} · p95 {_ms(stats.total_p95_ms)}"),
        Fact(
            "Model cost",
            f"${stats.cost_usd:,.2f} "
            f"({stats.input_tokens:,} in / {stats.output_tokens:,} out tokens)",
        ),
    ]
    sections = []
    if stats.top_domains:
        sections.append(
            "Top domains: " + ", ".join(f"{name} {count:,}" for name, count in stats.top_domains)
        )
    counts = [count for _, count in stats.daily_questions]
    if counts:
        first, last = stats.daily_questions[0][0], stats.daily_questions[-1][0]
        sections.append(
            f"Questions a day ({first:%d %b} – {last:%d %b}): `{_spark(counts)}` "
            f"max {max(counts):,}, total {sum(counts):,}"
        )
    return CommandReply(title=f"Usage over the last {days} days", facts=facts, sections=sections)


async def run_stats(ctx: CommandContext) -> CommandReply:
    days = 7
    as_csv = bool(ctx.request.args) and ctx.request.args[0].lower() == "csv"
    if as_csv:
        ctx.request = replace(ctx.request, args=ctx.request.args[1:])
    if ctx.request.args:
        match = _DAYS.match(ctx.request.args[0].lower())
        if not match or not 1 <= int(match.group(1)) <= MAX_STATS_DAYS:
            return CommandReply(
                title="Which period?",
                sections=[f"Use `stats 7d` or `stats 30d` (up to {MAX_STATS_DAYS}d)."],
                ok=False,
            )
        days = int(match.group(1))
    if as_csv:
        return await run_stats_csv(ctx, days if ctx.request.args else None)
    ctx.audit_details["days"] = days
    stats = await ctx.services.admin.stats(ctx.now - timedelta(days=days), ctx.now)
    reply = stats_reply(stats, days)
    if ctx.services.limits is not None:
        hits = await ctx.services.limits.hits(
            ctx.now - timedelta(days=days), ctx.now, MAX_LIMITED
        )
        reply.sections.append(limited_section(hits))
    return reply


def limited_section(hits: list[LimitHitSummary]) -> str:
    """Who was asked to slow down or ran out of budget, most refusals first."""
    if not hits:
        return "Limits: nobody was refused for asking fast or for a spent budget."
    lines = [
        f"• {hit.display_name or hit.user_id} ({hit.platform}:{hit.workspace_id}:{hit.user_id}) "
        f"— {KIND_LABELS.get(hit.kind, hit.kind)} ×{hit.hits:,}, last {hit.last_at:%d %b %H:%M} UTC"
        for hit in hits
    ]
    return "Limits hit (refused questions):\n" + "\n".join(lines)


def _at(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "never"


async def run_sources(ctx: CommandContext) -> CommandReply:
    rows = await ctx.services.admin.sources()
    watched = await ctx.services.admin.watched_sources()
    if not rows and not watched:
        return CommandReply(
            title="Nothing is indexed yet", sections=["Add documents with `ingest <url|path>`."]
        )
    sections = []
    if rows:
        sections.append(
            "By source and domain:\n"
            + "\n".join(
                f"• {row.source} / {row.domain}: {row.documents:,} "
                f"document{'s' * (row.documents != 1)}, {row.chunks:,} chunks, "
                f"last indexed {_at(row.last_indexed)}"
                for row in rows
            )
        )
    if watched:
        sections.append(
            "Kept fresh by the reingest job:\n"
            + "\n".join(
                f"• {w.uri} — last scanned {_at(w.last_scanned_at)}"
                + (f" ({w.last_outcome})" if w.last_outcome else "")
                for w in watched
            )
        )
    return CommandReply(
        title="What I know",
        facts=[
            Fact("Documents", f"{sum(r.documents for r in rows):,}"),
            Fact("Chunks", f"{sum(r.chunks for r in rows):,}"),
        ],
        sections=sections,
    )


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


async def run_feedback(ctx: CommandContext) -> CommandReply:
    limit = 5
    if ctx.request.args:
        if not ctx.request.args[0].isdigit():
            return CommandReply(title="How many?", sections=["Use `feedback 10`."], ok=False)
        limit = max(1, min(MAX_FEEDBACK, int(ctx.request.args[0])))
    ctx.audit_details["limit"] = limit
    rows = await ctx.services.admin.negative_feedback(limit)
    if not rows:
        return CommandReply(title="No 👎 yet", sections=["Nobody has disliked an answer."])
    sections = []
    for row in rows:
        parts = [f"{row.created_at:%Y-%m-%d %H:%M} UTC"]
        parts.append("Q: " + (_excerpt(row.question, 200) if row.question else "(deleted)"))
        parts.append("A: " + _excerpt(row.answer, 300))
        if row.reasons:
            parts.append("Reasons: " + ", ".join(r.replace("_", " ") for r in row.reasons))
        if row.comment:
            parts.append("Comment: " + _excerpt(row.comment, 300))
        sections.append("\n".join(parts))
    return CommandReply(title=f"The latest {len(rows)} 👎", sections=sections)


def _target_ref(ctx: CommandContext) -> str | None:
    if ctx.request.mentions:
        return ctx.request.mentions[0]
    for arg in ctx.request.args:
        if arg.lower() in {"admin", "user"}:
            continue
        return unwrap(arg)
    return None


async def run_role(ctx: CommandContext) -> CommandReply:
    roles = [a.lower() for a in ctx.request.args if a.lower() in {"admin", "user"}]
    ref = _target_ref(ctx)
    if ref is None or len(roles) != 1:
        return CommandReply(
            title="Whose role, and which?",
            sections=["Use `role @someone admin` or `role @someone user` (or an email)."],
            ok=False,
        )
    role = roles[0]
    admin = ctx.services.admin
    person = ctx.request.person
    ctx.audit_target = ref
    ctx.audit_details["role"] = role
    users = await admin.find_users(person.platform, person.workspace_id, ref)
    if not users and "@" not in ref:
        # Someone who has not talked to me yet still gets a row, so the role waits for them.
        users = [await admin.ensure_user(person.platform, person.workspace_id, ref)]
    if not users:
        return CommandReply(
            title="I don't know that person yet",
            sections=[f"Nobody with the email {ref} has talked to me. Mention them instead."],
            ok=False,
        )
    ctx.audit_details["previous"] = sorted({u.role for u in users})
    ctx.audit_details["user_ids"] = [u.id for u in users]
    await admin.set_role([u.id for u in users], role)
    name = users[0].display_name or users[0].email or ref
    sections = [f"{name} is now {'an admin' if role == 'admin' else 'a regular user'}."]
    configured = any(
        is_configured_admin(
            Person(u.platform, u.workspace_id, u.platform_user_id, email=u.email),
            ctx.options.admins,
        )
        for u in users
    )
    if role == "user" and configured:
        sections.append("They stay an admin while SWITCHBOARD_ADMINS names them.")
    return CommandReply(title="Role changed", sections=sections)


async def run_prompts(ctx: CommandContext) -> CommandReply:
    services = ctx.services
    refresh = [a.lower() for a in ctx.request.args] == ["refresh"]
    if refresh:
        if services.refresh_prompts is None:
            return CommandReply(
                title="I can't refresh prompts here",
                sections=["The weekly-prompts job is not set up in this deployment."],
                ok=False,
            )
        ctx.audit_details["refresh"] = True
        await ctx.report("Picking this week's suggested prompts from last week's questions…")
        prompts = list(await services.refresh_prompts())
        title = "Suggested prompts refreshed"
    else:
        if services.prompts is None:
            return CommandReply(
                title="No suggested prompts", sections=["Prompts are not set up here."], ok=False
            )
        prompts = await services.prompts.current()
        title = "This week's suggested prompts"
    ctx.audit_details["count"] = len(prompts)
    if not prompts:
        return CommandReply(title=title, sections=["There are none yet."])
    lines = "\n".join(f"{n}. {text}" for n, text in enumerate(prompts, start=1))
    return CommandReply(
        title=title,
        sections=[lines, "The agent pane shows the first four; App Home shows them all."],
    )


COMMANDS = (
    CommandSpec(
        "stats",
        "stats [7d|30d]",
        "usage, satisfaction, speed and cost; `stats csv [30d]`: a CSV file per day and domain",
        run_stats,
        admin=True,
        args=r"((csv )?\d{1,3}d?|csv)?",
    ),
    CommandSpec(
        "sources", "sources", "what is indexed, when, and how many chunks", run_sources, admin=True
    ),
    CommandSpec(
        "feedback",
        "feedback [n]",
        "the latest 👎 with question, answer and reasons",
        run_feedback,
        admin=True,
        args=r"(\d{1,3})?",
    ),
    CommandSpec(
        "role",
        "role @user admin|user",
        "give or take the admin role",
        run_role,
        admin=True,
        args=r"\S.* (admin|user)",
    ),
    CommandSpec(
        "prompts",
        "prompts [refresh]",
        "this week's suggested prompts, or pick new ones",
        run_prompts,
        admin=True,
        args="(refresh)?",
    ),
)
