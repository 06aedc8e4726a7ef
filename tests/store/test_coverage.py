"""What a question is about, for the decline decision: the words that say how it is asked, the
unit its answer is wanted in and a period's label written glued or apart are left out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bots.runtime import Runtime
from store.coverage import PgCoverageJudge, content
from store.retrieval import HybridRetriever


def test_comparing_and_ranking_words_are_not_what_a_question_is_about():
    assert content("What drove the gross margin change compared with last year?") == (
        "gross margin change last year"
    )
    assert content("Which region had the worst revenue versus plan?") == "region revenue plan"


def test_the_unit_of_the_answer_is_not_looked_for():
    assert content("What is the capital expenditure in USD millions?") == "capital expenditure"


def test_a_period_label_leaves_its_year_glued_or_apart():
    assert content("Revenue in Q22023 and FY2023Q1") == "Revenue 2023 2023"
    assert content("Cash between FY 2023 and FY2022") == "Cash 2023 2022"


QUESTIONS = [
    "How do I connect to the VPN from home?",
    "How many days of annual leave do I get?",
    "What is the mileage rate for a private car?",
    "Can I get dental cover for my family in Brazil?",
    "How do I reset my password after a phishing email?",
    "What is the office dress code for client visits in Tokyo?",
]


async def test_the_share_read_off_the_passages_is_the_share_the_database_measures(
    loaded_runtime: Runtime,
):
    # Retrieval measures each passage's content words as it reads it, so the decline check asks
    # nothing more; the decision must be the one the database's own statement would make.
    judge = PgCoverageJudge(loaded_runtime.db.pool)
    shares = []
    for question in QUESTIONS:
        passages = await HybridRetriever(loaded_runtime.db.pool).search(question, k=5)
        assert passages and all(p.matched is not None for p in passages), question
        carried = await judge.measure(question, passages)
        asked = await judge.measure(question, [replace(p, matched=None) for p in passages])
        assert carried.share == pytest.approx(asked.share, abs=1e-9), question
        shares.append(carried.share)
    assert min(shares) < 0.65 <= max(shares)  # some covered, some not: the measure says something


async def test_a_passage_retrieved_for_another_question_is_measured_again(loaded_runtime: Runtime):
    judge = PgCoverageJudge(loaded_runtime.db.pool)
    passages = await HybridRetriever(loaded_runtime.db.pool).search("How do I connect to the VPN from home?", k=5)
    other = "What is the mileage rate for a private car?"
    again = await judge.measure(other, passages)
    asked = await judge.measure(other, [replace(p, matched=None) for p in passages])
    assert again.share == pytest.approx(asked.share, abs=1e-9)
