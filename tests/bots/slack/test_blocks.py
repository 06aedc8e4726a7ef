"""Block Kit for answers: pieces Slack accepts that add up to the whole text, and sources."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bots.slack.blocks import answer_blocks, parse_feedback_value, source_line, split, take
from core.answers import Answer, Citation


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .\n"), max_size=3000), st.integers(1, 400))
def test_split_never_loses_or_repeats_text_and_respects_the_limit(text: str, room: int):
    pieces = split(text, room)
    assert "".join(pieces) == text
    assert all(0 < len(p) <= room for p in pieces)


def test_long_text_is_split_between_paragraphs_when_it_can_be():
    text = ("word " * 50 + "\n\n") * 10
    head, rest = take(text, 1000)
    assert head.endswith("\n\n") and head + rest == text


def test_sources_are_numbered_linked_and_say_where():
    page = Citation(
        n=1, title="IT Security Standard", snippet="", url="https://intranet/sec.pdf", page=4
    )
    section = Citation(
        n=2, title="Annual <leave>", snippet="", path="hr/annual-leave.md", section="Carry-over"
    )
    assert source_line(page) == "[1] <https://intranet/sec.pdf|IT Security Standard>, p. 4"
    assert source_line(section) == "[2] Annual &lt;leave&gt; (`hr/annual-leave.md`) › Carry-over"


def test_feedback_buttons_only_on_a_stored_complete_answer():
    answer = Answer(text="x", citations=[], message_id=None)
    assert answer_blocks(answer) == []
    answer.message_id = 42
    [buttons] = answer_blocks(answer)
    assert buttons["elements"][0]["negative_button"]["value"] == "down:42"
    assert parse_feedback_value("down:42") == (-1, 42)
    assert parse_feedback_value("sideways:42") is None
