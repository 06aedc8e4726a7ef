"""What the adapters show: this week's prompts, topped up from last week's, then the defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bots.runtime import Runtime
from store.prompts import PromptStore, SuggestedPrompt, week_of

DEFAULTS = ("How do I reset my password?", "When is payday?", "How do I connect to the VPN?")


def test_a_week_is_named_by_its_monday():
    assert week_of(date(2025, 6, 15)) == date(2025, 6, 9)  # a Sunday
    assert week_of(date(2025, 6, 9)) == date(2025, 6, 9)
    assert week_of(datetime(2025, 6, 16, 0, 30, tzinfo=UTC)) == date(2025, 6, 16)


async def test_with_nothing_stored_the_defaults_show(runtime: Runtime):
    prompts = PromptStore(runtime.db.pool, defaults=DEFAULTS)
    assert await prompts.current() == list(DEFAULTS)
    assert await prompts.current(limit=2) == list(DEFAULTS[:2])
    assert await PromptStore(runtime.db.pool).current() == []


async def test_this_weeks_prompts_come_first_then_last_weeks_then_defaults(runtime: Runtime):
    prompts = PromptStore(runtime.db.pool, defaults=DEFAULTS)
    today = datetime.now(UTC)
    await prompts.replace_week(
        week_of(today - timedelta(days=14)), [SuggestedPrompt("Two weeks ago?")]
    )
    await prompts.replace_week(
        week_of(today - timedelta(days=7)),
        [SuggestedPrompt("How do I book a desk?"), SuggestedPrompt("when is payday")],
    )
    await prompts.replace_week(week_of(today), [SuggestedPrompt("How do I expense a taxi?", "hr")])

    shown = await prompts.shown()
    assert [p.text for p in shown] == [
        "How do I expense a taxi?",
        "How do I book a desk?",
        "when is payday",  # "When is payday?" from the defaults is the same prompt
        "How do I reset my password?",
        "How do I connect to the VPN?",
    ]
    assert shown[0].origin == "stored" and shown[0].domain == "hr"
    assert shown[-1].origin == "defaults"
    # Replacing a week replaces it whole.
    await prompts.replace_week(week_of(today), [SuggestedPrompt("Where is the canteen?")])
    assert await prompts.for_week(today.date()) == [SuggestedPrompt("Where is the canteen?")]
    assert await prompts.latest_week() == week_of(today)
