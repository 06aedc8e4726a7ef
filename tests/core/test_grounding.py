"""The grounding check read as a stream: what may be shown, sentence by sentence."""

from __future__ import annotations

import re

from core.answers import Passage
from core.figures import FigureSource, figures
from core.grounding import GroundingCheck, GroundingPolicy, Readings

PASSAGES = [
    Passage(1, 1, "Travel", "Meals are reimbursed up to $65 a day. Claims use form HR-204.", "hr", 1.0),
    Passage(2, 2, "Leave", "Associates get twenty-five days of annual leave, 1,500 EUR a year.", "hr", 1.0),
]


def stream_through(
    text: str, policy: GroundingPolicy | None = None, check: GroundingCheck | None = None
) -> tuple[str, GroundingCheck]:
    check = check or GroundingCheck("How much can I claim for meals?", PASSAGES, policy)
    shown = []
    for token in re.findall(r"\S+\s*", text):
        shown.append(check.feed(token))
        if check.stopped:
            break
    else:
        shown.append(check.close())
    return "".join(shown), check


def test_a_cited_answer_is_shown_whole_and_a_citation_after_the_full_stop_stays_with_its_sentence():
    text = "Meals are reimbursed up to $65 a day. [1] Use form HR-204 [1]."
    shown, check = stream_through(text)
    assert shown == text and check.grounded and not check.unsupported


def test_nothing_is_shown_of_an_answer_that_cites_nothing():
    shown, check = stream_through("You can claim meals. Keep your receipts.")
    assert shown == "" and check.stopped == "uncited" and not check.grounded


def test_a_long_uncited_start_stops_the_model_early():
    shown, check = stream_through("Meals are fine. " * 3 + "Travel is good and fun. " * 40, GroundingPolicy(hold_chars=100))
    assert shown == "" and check.stopped in {"uncited", "repetition"}


def test_figures_no_passage_holds_are_found_and_supported_ones_are_not():
    source = FigureSource([p.text for p in PASSAGES])
    assert source.unsupported("Up to $2,000 a day [1], or $65, with HR-204 and 1500 EUR.") == ["2,000"]
    assert source.unsupported("Use form HR-205 by 31 March 2026.") == ["HR-205", "31", "2026"]
    assert figures("1. Open the app [2]\n2. Sign in") == []  # list numbers and markers are not figures


def test_number_words_in_a_passage_support_digits_in_the_answer():
    source = FigureSource(["You get two weeks of leave."])
    assert source.unsupported("You get 2 weeks [1].") == []


def test_a_repeated_sentence_stops_the_answer_before_the_repetition():
    shown, check = stream_through("Meals are reimbursed [1]. Keep all receipts. Keep all receipts. Keep all receipts.")
    assert shown == "Meals are reimbursed [1]. Keep all receipts. "
    assert check.stopped == "repetition"


def test_a_run_of_words_repeated_without_full_stops_is_a_loop():
    shown, check = stream_through("Meals are reimbursed [1]. " + "and the meal is paid and the meal is paid " * 5)
    assert shown == "Meals are reimbursed [1]. " and check.stopped == "repetition"


def test_strictly_a_sentence_with_an_unfound_figure_is_left_out():
    shown, check = stream_through("Meals up to $65 [1]. Hotels up to $900 [1].", GroundingPolicy(strict_figures=True))
    assert shown == "Meals up to $65 [1]. " and check.removed_sentences == 1 and check.unsupported == ["900"]


def test_a_list_of_citations_is_written_as_separate_markers_and_unknown_ones_dropped():
    shown, check = stream_through("Meals are reimbursed [1, 2, 7].")
    assert shown == "Meals are reimbursed [1][2]." and check.dropped == [7]


def test_a_sentence_copied_from_a_passage_is_given_that_passages_citation():
    shown, check = stream_through("Sure. Associates get twenty-five days of annual leave, 1,500 EUR a year.")
    assert shown == "Sure. Associates get twenty-five days of annual leave, 1,500 EUR a year. [2]"
    assert check.grounded and check.attributed == 1


def test_what_was_read_of_passages_for_one_answer_serves_the_next_by_its_own_numbers():
    long = [
        Passage(1, 1, "Travel", "Meals are reimbursed up to $65 a day. Claims use form HR-204. " * 5, "hr", 1.0),
        Passage(2, 2, "Leave", "Associates get twenty-five days of annual leave, 1,500 EUR a year. " * 5, "hr", 1.0),
    ]
    answer = "Sure. Associates get twenty-five days of annual leave, 1,500 EUR a year. Up to $2,000 [1]."
    readings = Readings()
    first, check = stream_through(answer, check=GroundingCheck("Leave?", long, readings=readings))
    assert first.endswith("1,500 EUR a year. [2] Up to $2,000 [1].") and check.unsupported == ["2,000"]
    again, check = stream_through(answer, check=GroundingCheck("Leave?", long[::-1], readings=readings))
    assert again.endswith("1,500 EUR a year. [1] Up to $2,000 [1].") and check.unsupported == ["2,000"]
    assert len(readings.words) == 2  # read once each, for both answers


def test_passage_tags_echoed_by_the_model_are_not_shown():
    shown, _ = stream_through('<passage n="1" title="Travel">\nMeals are reimbursed up to $65 a day [1].\n</passage>')
    assert shown == "Meals are reimbursed up to $65 a day [1].\n"


def test_a_sentence_cited_before_its_full_stop_is_shown_without_waiting_for_the_next_word():
    check = GroundingCheck("How much can I claim for meals?", PASSAGES)
    assert check.feed("Meals are reimbursed up to $65 a day") == ""
    assert check.feed(" [1].") == "Meals are reimbursed up to $65 a day [1]."
    # Whatever follows, even another citation, reads on as the model wrote it.
    shown = [check.feed(t) for t in (" [2]", " Use form", " HR-204 [1]", ".")] + [check.close()]
    assert "".join(shown) == " [2] Use form HR-204 [1]."
    assert check.shown == "Meals are reimbursed up to $65 a day [1]. [2] Use form HR-204 [1]."


def test_a_full_stop_without_a_citation_still_waits_for_one_after_it():
    check = GroundingCheck("How much can I claim for meals?", PASSAGES)
    assert check.feed("Meals are reimbursed up to $65 a day.") == ""
    assert check.feed(" [1]") == ""
    assert check.feed(" Use") == "Meals are reimbursed up to $65 a day. [1] "


def test_a_line_break_sent_on_its_own_after_a_cited_full_stop_is_kept():
    pieces = ["To claim, open the app [1].", "\n\n", "2", ".", " Use form HR-204 [1].", "\n"]
    check = GroundingCheck("How much can I claim for meals?", PASSAGES)
    shown = "".join(check.feed(p) for p in pieces) + check.close()
    assert shown == "".join(pieces)


def test_strictly_a_sentence_left_out_after_a_cited_full_stop_takes_only_its_own_words():
    pieces = ["Meals up to $65 a day [1].", " Taxis up to $99.", " Use form HR-204 [1]", "."]
    check = GroundingCheck("How much can I claim for meals?", PASSAGES, GroundingPolicy(strict_figures=True))
    shown = "".join(check.feed(p) for p in pieces) + check.close()
    assert shown == "Meals up to $65 a day [1]. Use form HR-204 [1]."


def test_a_repeated_run_is_caught_across_the_first_sentences():
    # Runs of eight words that start in the first short sentence count like any other.
    text = ("Meals are reimbursed daily [1]. Keep all the receipts now. Meals are reimbursed daily: "
            "keep all the receipts, later. Yes, meals are reimbursed daily: keep all the receipts too.")
    shown, check = stream_through(text)
    assert check.stopped == "repetition" and not shown.endswith("too.")
