"""What a question is about, for the decline decision: the words that say how it is asked, the
unit its answer is wanted in and a period's label written glued or apart are left out."""

from __future__ import annotations

from store.coverage import content


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
