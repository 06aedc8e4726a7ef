"""A form in a Slack button: what the button carries and what a submitted modal runs."""

from __future__ import annotations

from datetime import UTC, datetime

from bots.slack.forms import BUTTON_VALUE_CHARS, button_value, modal, read_button, submitted
from core.commands.answers import edit_form, write_form
from core.verified import VerifiedAnswer

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def test_a_long_answer_is_never_cut_in_an_edit_form_it_is_left_to_write_again():
    long = VerifiedAnswer(7, "q", "Step one.\n" * 390, None, None, "Ana", NOW, NOW)
    value = button_value(edit_form(long))
    assert len(value) <= BUTTON_VALUE_CHARS
    form = read_button(value)
    assert form is not None
    answer = form.fields[0]
    assert answer.value == "" and "write it again" in answer.label
    # Slack will not send the modal without it (the field is required).
    [block] = [b for b in modal(form, "D1")["blocks"] if b["block_id"] == "answer"]
    assert block["optional"] is False and "initial_value" not in block["element"]


def test_a_submitted_modal_runs_the_forms_command_with_the_values():
    view = modal(write_form("Can I bring my dog?"), "DBOSS")
    view["state"] = {
        "values": {
            "question": {"value": {"value": "Can I bring my dog?"}},
            "answer": {"value": {"value": "Yes, on Fridays."}},
            "source": {"value": {"value": None}},
            "audience": {"value": {"value": "group:Pets"}},
        }
    }
    assert submitted(view) == (
        "answers add Can I bring my dog? :: Yes, on Fridays.\n--allow group:Pets\nsource:",
        "DBOSS",
    )
    assert read_button("not json") is None and submitted({"private_metadata": "{}"}) is None


def test_a_long_list_of_items_shows_whole_items_and_says_how_many_more():
    from bots.slack.commands import reply_blocks
    from core.commands.reply import CommandAction, CommandReply, ReplyItem

    def listed(count: int) -> list[dict]:
        items = [
            ReplyItem(f"*#{i}* question {i}", (CommandAction("Remove", f"answers remove {i}"),))
            for i in range(count)
        ]
        return reply_blocks(CommandReply(title="Verified answers", items=items))

    twenty = listed(20)  # what `answers list` shows at most
    assert len(twenty) <= 50
    assert sum(b["type"] == "actions" for b in twenty) == 20
    many = listed(40)
    assert len(many) <= 50
    sections = [b for b in many if b["type"] == "section"][1:]
    actions = [b for b in many if b["type"] == "actions"]
    assert len(sections) == len(actions)  # never an item without its buttons
    assert f"{40 - len(actions)} more not shown" in many[-1]["elements"][0]["text"]
