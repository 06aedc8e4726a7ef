"""Which questions lean on the conversation before them (core/follow_up.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.conversations import Turn
from core.follow_up import FollowUpRule, reads_as_follow_up

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "question",
    [
        "and for contractors?",
        "What about the Berlin office?",
        "But what if I work part-time?",
        "Is it paid?",
        "Does that apply to contractors?",
        "for contractors?",
        "Why?",
        "Und für Teilzeit?",
    ],
)
def test_a_question_that_leans_on_the_last_one_reads_as_a_follow_up(question: str):
    assert reads_as_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "How do I reset my password?",
        "Reset my password?",
        "Is there a dress code?",
        "Am I allowed to bring my dog to the office?",
        "How many days of parental leave do fathers get in Germany?",
    ],
)
def test_a_question_on_its_own_does_not(question: str):
    assert not reads_as_follow_up(question)


def history(minutes_ago: float) -> list[Turn]:
    at = NOW - timedelta(minutes=minutes_ago)
    return [Turn("user", "How do I connect to the VPN?", at), Turn("assistant", "Use it.", at)]


def test_after_a_quiet_gap_a_question_on_its_own_starts_afresh():
    rule = FollowUpRule(quiet_s=1800)
    recent = rule.context("How do I reset my password?", history(5), NOW)
    assert not recent.follow_up and len(recent.turns) == 2
    quiet = rule.context("How do I reset my password?", history(45), NOW)
    assert not quiet.follow_up and not quiet.turns
    # A follow-up keeps its conversation however long it was quiet.
    late = rule.context("and on my phone?", history(600), NOW)
    assert late.follow_up and len(late.turns) == 2
    assert FollowUpRule(quiet_s=0).context("Reset my password?", history(600), NOW).turns
