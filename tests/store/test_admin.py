"""`stats` and `sources` through the command handler: every number matches the rows it counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

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

NOW = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (what percentile_cont means)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def test_stats_numbers_match_the_rows_they_count(runtime: Runtime):
    pool = runtime.db.pool
    boss = await someone(runtime, "UBOSS")
    people = [await someone(runtime, f"U{n}") for n in range(4)]
    inside: list[Turn] = []
    answers: list[int] = []
    # Inside the 7-day window: 9 conversations by three people, a varied set of latencies,
    # domains and costs. People[3] only asked long ago.
    domains = ["it", "it", "hr", "it", "policy", "hr", "it", None, "hr"]
    for n in range(9):
        asker = people[n % 3]
        turns = [
            Turn(
                asker,
                f"Question {n}",
                NOW - timedelta(days=n % 7, hours=1 + n),
                domain=domains[n],
                ttft_ms=100.0 * (n + 1),
                total_ms=1000.0 + 250 * n,
                cost_usd=0.0125 * n,
                input_tokens=100 * n,
                output_tokens=10 * n,
            ),
        ]
        if n % 4 == 0:  # a follow-up without an answer (still a question and a message)
            turns.append(
                Turn(asker, f"Follow-up {n}", turns[0].at + timedelta(minutes=5), answer=None)
            )
        seeded = await seed_conversation(pool, turns, thread=f"in{n}")
        inside.extend(turns)
        answers.extend(seeded.answer_ids)
    # Outside the window: must not count anywhere.
    old = await seed_conversation(
        pool,
        [
            Turn(people[3], "Old question", NOW - timedelta(days=8), cost_usd=5, ttft_ms=99999),
        ],
        thread="old",
    )
    for n, answer in enumerate(answers[:5]):
        await rate(pool, answer, people[n % 3], 1 if n < 3 else -1, at=NOW - timedelta(hours=n + 1))
    await rate(pool, old.answer_ids[0], people[3], -1, at=NOW - timedelta(days=8))

    reply = await ask(commands_at(runtime, NOW, admins=("UBOSS",)), boss, "stats 7d")

    answered = [t for t in inside if t.answer is not None]
    facts = {f.label: f.value for f in reply.facts}
    assert reply.title == "Usage over the last 7 days"
    assert facts["Conversations"] == "9"
    assert facts["Messages"] == f"{len(inside) + len(answered)} ({len(inside)} questions)"
    assert facts["Active users"] == "3"
    assert facts["👍 share"] == "60% of 5 ratings"
    ttft = [t.ttft_ms for t in answered if t.ttft_ms is not None]
    total = [t.total_ms for t in answered if t.total_ms is not None]
    assert facts["Time to first token"] == (
        f"p50 {percentile(ttft, 0.5):.0f} ms · p95 {percentile(ttft, 0.95):.0f} ms"
    )
    assert facts["Total answer time"] == (
        f"p50 {percentile(total, 0.5) / 1000:.2f} s · p95 {percentile(total, 0.95) / 1000:.2f} s"
    )
    cost = sum(t.cost_usd for t in answered)
    tokens_in = sum(t.input_tokens for t in answered)
    tokens_out = sum(t.output_tokens for t in answered)
    assert facts["Model cost"] == f"${cost:,.2f} ({tokens_in:,} in / {tokens_out:,} out tokens)"
    assert "Top domains: it 4, hr 3, policy 1" in reply.sections
    # Questions per UTC day: eight days (the window starts mid-day), counted by hand.
    per_day: dict[date, int] = {}
    for turn in inside:
        per_day[turn.at.date()] = per_day.get(turn.at.date(), 0) + 1
    days = [(NOW - timedelta(days=7)).date() + timedelta(days=n) for n in range(8)]
    expected_counts = [per_day.get(d, 0) for d in days]
    (daily,) = [s for s in reply.sections if s.startswith("Questions a day")]
    assert daily.startswith("Questions a day (24 Mar – 31 Mar)")
    assert daily.endswith(f"max {max(expected_counts)}, total {len(inside)}")
    stats = await runtime_stats(runtime, NOW)
    assert [count for _, count in stats] == expected_counts


async def runtime_stats(runtime: Runtime, now: datetime) -> list[tuple[date, int]]:
    from store.admin import PgAdminStore

    result = await PgAdminStore(runtime.db.pool).stats(now - timedelta(days=7), now)
    return result.daily_questions


async def test_stats_with_no_activity_says_so_plainly(runtime: Runtime):
    boss = await someone(runtime, "UBOSS")
    reply = await ask(commands_at(runtime, NOW, admins=("UBOSS",)), boss, "stats 30d")
    facts = {f.label: f.value for f in reply.facts}
    assert reply.title == "Usage over the last 30 days"
    assert facts["Conversations"] == "0" and facts["👍 share"] == "no ratings yet"
    assert facts["Time to first token"] == "p50 – · p95 –"
    bad = await ask(commands_at(runtime, NOW, admins=("UBOSS",)), boss, "stats forever")
    assert not bad.ok and "stats 7d" in bad.text


async def test_sources_counts_documents_and_chunks_per_source(loaded_runtime: Runtime):
    boss = await someone(loaded_runtime, "UBOSS")
    reply = await ask(commands_at(loaded_runtime, NOW, admins=("UBOSS",)), boss, "sources")
    counted = await rows(
        loaded_runtime.db.pool,
        """SELECT d.domain, count(DISTINCT d.id), count(c.id) FROM documents d
           JOIN chunks c ON c.document_id = d.id GROUP BY d.domain ORDER BY d.domain""",
    )
    facts = {f.label: f.value for f in reply.facts}
    assert facts["Documents"] == str(sum(n for _, n, _ in counted))
    assert facts["Chunks"] == f"{sum(c for _, _, c in counted):,}"
    for domain, documents, chunks in counted:
        assert f"folder / {domain}: {documents} documents, {chunks:,} chunks" in reply.text
