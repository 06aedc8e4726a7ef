"""``stats csv``: a file per UTC day and domain whose every number is a plain SQL count."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from bots.runtime import Runtime
from tests.support.conversations import (
    Turn,
    ask,
    commands_at,
    rate,
    rows,
    seed_conversation,
    someone,
)

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


async def set_status(runtime: Runtime, message_id: int, status: str) -> None:
    async with runtime.db.pool.connection() as conn:
        await conn.execute("UPDATE messages SET status = %s WHERE id = %s", (status, message_id))


async def test_the_csv_has_a_row_per_day_and_domain_equal_to_sql_counts(runtime: Runtime):
    ana = await someone(runtime, "UADMIN", email="ana@example.com")
    bob, cy = await someone(runtime, "UBOB"), await someone(runtime, "UCY")
    pool = runtime.db.pool
    yesterday, today = NOW - timedelta(days=1), NOW - timedelta(hours=2)
    plan = [
        # (asker, when, domain, status, tokens in/out, cost)
        (bob, yesterday, "it", "complete", 100, 50, 0.01),
        (cy, yesterday, "it", "not_found", 80, 10, 0.002),
        (bob, yesterday, "hr", "verified", 0, 0, 0.0),
        (cy, today, "hr", "complete", 200, 120, 0.03),
        (bob, today, "hr", "verified", 0, 0, 0.0),
        (cy, today, "it", "failed", 0, 0, 0.0),
        (bob, NOW - timedelta(days=40), "it", "complete", 999, 999, 9.0),  # outside 30 days
    ]
    answers = []
    for n, (who, at, domain, status, tin, tout, cost) in enumerate(plan):
        seeded = await seed_conversation(
            pool,
            [Turn(who, f"Question {n}?", at, domain=domain, input_tokens=tin, output_tokens=tout,
                  cost_usd=cost)],
            thread=f"t{n}",
        )
        await set_status(runtime, seeded.answer_ids[0], status)
        answers.append(seeded.answer_ids[0])
    # A question that got no answer at all.
    await seed_conversation(pool, [Turn(bob, "Hello?", today, answer=None)], thread="silent")
    await rate(pool, answers[0], bob, 1, at=yesterday + timedelta(minutes=5))
    await rate(pool, answers[0], cy, -1, at=yesterday + timedelta(minutes=6), reasons=["other"])
    await rate(pool, answers[3], cy, -1, at=today + timedelta(minutes=1))
    await rate(pool, answers[4], bob, 1, at=today + timedelta(minutes=1))
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO handoffs (message_id, user_id) VALUES (%s, %s), (%s, %s)",
            (answers[1], cy.id, answers[3], cy.id),
        )

    handler = commands_at(runtime, NOW, admins=("ana@example.com",))
    reply = await ask(handler, ana, "stats csv 30d")

    assert reply.ok and reply.file_type == "text/csv" and reply.file_content is not None
    assert reply.file_name == "switchboard-usage-2026-11-05-to-2026-12-04.csv"
    table = list(csv.DictReader(io.StringIO(reply.file_content.decode())))
    # Every question here is one conversation with at most one answer: plain joins count them.
    expected = await rows(
        pool,
        """WITH qa AS (
               SELECT (q.created_at AT TIME ZONE 'UTC')::date::text AS day,
                      coalesce(a.route -> 'domains' ->> 0, 'none') AS domain, a.id, a.status,
                      a.input_tokens, a.output_tokens, a.cost_usd
               FROM messages q
               LEFT JOIN messages a
                 ON a.conversation_id = q.conversation_id AND a.role = 'assistant'
               WHERE q.role = 'user' AND q.created_at >= '2026-11-05')
           SELECT day, domain, count(*),
                  count(id) FILTER (WHERE status IN ('complete', 'verified')),
                  count(id) FILTER (WHERE status = 'not_found'),
                  count(id) FILTER (WHERE status = 'verified'),
                  (SELECT count(*) FROM feedback f JOIN qa x ON x.id = f.message_id
                   WHERE f.rating = 1 AND x.day = qa.day AND x.domain = qa.domain),
                  (SELECT count(*) FROM feedback f JOIN qa x ON x.id = f.message_id
                   WHERE f.rating = -1 AND x.day = qa.day AND x.domain = qa.domain),
                  (SELECT count(*) FROM handoffs h JOIN qa x ON x.id = h.message_id
                   WHERE x.day = qa.day AND x.domain = qa.domain),
                  coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
                  coalesce(sum(cost_usd), 0)
           FROM qa GROUP BY day, domain ORDER BY day, domain""",
    )
    got = [
        (r["day"], r["domain"], int(r["questions"]), int(r["answered"]), int(r["declined"]),
         int(r["verified"]), int(r["thumbs_up"]), int(r["thumbs_down"]), int(r["handoffs"]),
         int(r["input_tokens"]), int(r["output_tokens"]), float(r["cost_usd"]))
        for r in table
    ]
    assert got == [tuple(e[:9]) + (int(e[9]), int(e[10]), float(e[11])) for e in expected]
    # And by hand, what an admin would check in the spreadsheet:
    assert got == [
        ("2026-12-03", "hr", 1, 1, 0, 1, 0, 0, 0, 0, 0, 0.0),
        ("2026-12-03", "it", 2, 1, 1, 0, 1, 1, 1, 180, 60, 0.012),
        ("2026-12-04", "hr", 2, 2, 0, 1, 1, 1, 1, 200, 120, 0.03),
        ("2026-12-04", "it", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0.0),
        ("2026-12-04", "none", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0.0),
    ]
    assert list(table[0]) == ["day", "domain", "questions", "answered", "declined", "verified",
                              "thumbs_up", "thumbs_down", "handoffs", "input_tokens",
                              "output_tokens", "cost_usd"]
    audit = await rows(pool, "SELECT action, outcome, details FROM audit_log")
    assert audit == [("stats", "ok", {"days": 30, "format": "csv", "rows": 5})]


async def test_plain_stats_is_unchanged_beside_csv(runtime: Runtime):
    ana = await someone(runtime, "UADMIN", email="ana@example.com")
    handler = commands_at(runtime, NOW, admins=("ana@example.com",))
    reply = await ask(handler, ana, "stats 30d")
    assert reply.ok and reply.file_content is None and "last 30 days" in reply.title
    default = await ask(handler, ana, "stats csv")
    assert default.file_name is not None and "last 30 days" in default.title
