"""The HR and IT teams' loop through Teams, end to end: `unanswered` shows a declined question
and a 👎; its "Write a verified answer" card form feeds `answers add`; a paraphrase then gets the
verified answer and a near-miss does not; `stats csv` arrives by file consent with the numbers
SQL counts; people who are not admins are refused and audited."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.bots.teams.conftest import TENANT, BotFactory, BotServer
from tests.support.conversations import rows
from tests.support.fake_connector import Message

BOB = {"user": "29:bob", "aad": "aad-bob", "user_name": "Bob"}  # the admin
DECLINED = "Can I bring my dog to the office?"
PARAPHRASE = "Am I allowed to bring my dog to the office?"
NEAR_MISS = "Can I bring my dog to the Lisbon office?"
ANSWER = "Yes, on Fridays, if your team agrees. Keep it on a lead in shared areas."


async def send(bot: BotServer, activity: dict[str, Any]) -> list[Message]:
    conversation = activity["conversation"]["id"]
    before = len(bot.connector.visible(conversation))
    status, _ = await bot.post(activity)
    assert status in (200, 201, 202)
    await bot.settle()
    return bot.connector.visible(conversation)[before:]


async def say(bot: BotServer, text: str, **who: Any) -> list[Message]:
    return await send(bot, bot.connector.activity(text, **who))


async def last_status(bot: BotServer) -> str:
    [(status,)] = await rows(
        bot.runtime.db.pool,
        "SELECT status FROM messages WHERE role = 'assistant' ORDER BY id DESC LIMIT 1",
    )
    return str(status)


def forms(message: Message) -> list[tuple[str, dict[str, Any]]]:
    """(the item's text, its form action) for each item on the reply's card."""
    found = []
    for attachment in message.activity.get("attachments") or ():
        for container in (attachment.get("content") or {}).get("body") or ():
            if container.get("type") != "Container":
                continue
            text = container["items"][0]["text"]
            for part in container["items"][1:]:
                for action in part.get("actions") or ():
                    if action["type"] == "Action.ShowCard":
                        found.append((text, action))
    return found


async def test_the_loop_through_teams(make_bot: BotFactory):
    bot = await make_bot(admins=("aad-bob",))
    await say(bot, DECLINED)
    assert await last_status(bot) == "not_found"
    erin = {"user": "29:erin", "aad": "aad-erin", "user_name": "Erin"}
    replies = await say(bot, "How do I connect to the VPN from home?", **erin)
    assert await last_status(bot) == "complete"
    [final] = [m for m in replies if (m.activity.get("channelData") or {}).get("feedbackLoop")]
    vote = bot.connector.feedback(final, "dislike", "It left out the MFA step", user="29:erin")
    vote["from"]["aadObjectId"] = "aad-erin"
    await send(bot, vote)

    [reply] = await say(bot, "unanswered 7d", **BOB)
    assert "Unanswered in the last 7 days" in reply.text
    shown = "\n".join(t for t, _ in forms(reply))
    assert "connect to the VPN" in shown and "👎" in shown and "MFA step" in shown
    [action] = [a for t, a in forms(reply) if "bring my dog" in t]
    assert action["title"] == "Write a verified answer"
    [submit] = action["card"]["actions"]
    prefix = submit["data"]["prefix"]
    inputs = {i["id"].removeprefix(prefix): i for i in action["card"]["body"]}
    assert inputs["question"]["value"] == DECLINED

    # Bob fills in the answer and sends the form: Teams posts the card's data and the inputs.
    activity = bot.connector.activity("", mention_bot=False, **BOB)
    activity.update(
        {
            "replyToId": reply.id,
            "value": {
                **submit["data"],
                prefix + "question": inputs["question"]["value"],
                prefix + "answer": ANSWER,
                prefix + "source": "",
            },
        }
    )
    [saved] = await send(bot, activity)
    assert "Verified answer #" in saved.text and "saved" in saved.text

    # Each in a personal chat of its own (the same chat works too:
    # test_personal_chat_follow_ups.py).
    carol = {"user": "29:carol", "aad": "aad-carol", "user_name": "Carol"}
    dave = {"user": "29:dave", "aad": "aad-dave", "user_name": "Dave"}
    answered = await say(bot, PARAPHRASE, **carol)
    assert await last_status(bot) == "verified"
    assert any(ANSWER in m.text and "Verified answer" in m.text for m in answered)
    missed = await say(bot, NEAR_MISS, **dave)
    assert await last_status(bot) != "verified"
    assert not any(ANSWER in m.text for m in missed)

    # stats csv: a file consent card; accepted, the CSV lands in OneDrive.
    [offer] = await say(bot, "stats csv 7d", **BOB)
    [consent] = [
        a
        for a in offer.activity["attachments"]
        if a["contentType"] == "application/vnd.microsoft.teams.card.file.consent"
    ]
    assert consent["name"].endswith(".csv") and "CSV" in consent["content"]["description"]
    await send(bot, bot.connector.file_consent(offer, user="29:bob", aad="aad-bob"))
    [content] = bot.connector.files.values()
    table = list(csv.DictReader(io.StringIO(content.decode())))

    def total(column: str) -> int:
        return sum(int(row[column]) for row in table)

    pool = bot.runtime.db.pool
    [(questions,)] = await rows(pool, "SELECT count(*) FROM messages WHERE role = 'user'")
    [(declined,)] = await rows(pool, "SELECT count(*) FROM messages WHERE status = 'not_found'")
    [(verified,)] = await rows(pool, "SELECT count(*) FROM messages WHERE status = 'verified'")
    # Commands are not questions: the four asked above.
    assert (
        (total("questions"), total("declined"), total("verified"))
        == (
            questions,
            declined,
            verified,
        )
        == (4, 2, 1)
    )
    assert total("thumbs_down") == 1


async def test_a_non_admin_is_refused_the_loop_and_each_attempt_is_audited(bot: BotServer):
    for command in (f"answers add {DECLINED} :: {ANSWER}", "unanswered 30d", "stats csv 30d"):
        [reply] = await say(bot, command)
        assert "admins only" in reply.text
        assert not any(
            a.get("contentType", "").endswith("file.consent")
            for a in reply.activity.get("attachments") or ()
        )
    assert await rows(
        bot.runtime.db.pool, "SELECT actor, action, outcome FROM audit_log ORDER BY id"
    ) == [
        (f"teams:{TENANT}:aad-alice", action, "refused")
        for action in ("answers", "unanswered", "stats")
    ]
    # A forged form submit is no way around it.
    activity = bot.connector.activity("", mention_bot=False)
    activity["value"] = {
        "switchboard": "form",
        "template": "answers add {question} :: {answer}",
        "fields": ["question", "answer"],
        "f_question": DECLINED,
        "f_answer": ANSWER,
    }
    [reply] = await send(bot, activity)
    assert "admins only" in reply.text
    [(count,)] = await rows(bot.runtime.db.pool, "SELECT count(*) FROM verified_answers")
    assert count == 0


async def test_a_form_sent_again_saves_one_verified_answer(make_bot: BotFactory):
    bot = await make_bot(admins=("aad-bob",))
    await say(bot, DECLINED)
    [reply] = await say(bot, "unanswered 7d", **BOB)
    [action] = [a for t, a in forms(reply) if "bring my dog" in t]
    [submit] = action["card"]["actions"]
    prefix = submit["data"]["prefix"]
    activity = bot.connector.activity("", mention_bot=False, **BOB)
    value = {**submit["data"], prefix + "question": DECLINED, prefix + "answer": ANSWER}
    activity.update({"replyToId": reply.id, "value": value})
    [saved] = await send(bot, activity)
    assert "saved" in saved.text

    # Teams sends the same submit again (our ack was late): nothing more is said or saved.
    assert await send(bot, activity) == []
    # A double press: a second activity with the same card and the same words.
    pressed_twice = {**activity, "id": activity["id"] + "2"}
    assert await send(bot, pressed_twice) == []
    [(count,)] = await rows(bot.runtime.db.pool, "SELECT count(*) FROM verified_answers")
    assert count == 1


def card_texts(message: Message) -> list[str]:
    return [
        block.get("text", "")
        for attachment in message.activity.get("attachments") or ()
        for block in (attachment.get("content") or {}).get("body") or ()
    ]


def has_actions(message: Message) -> bool:
    return any(
        "actions" in part or part.get("type", "").startswith("Input.")
        for attachment in message.activity.get("attachments") or ()
        for part in _parts(attachment.get("content") or {})
    )


def _parts(card: dict[str, Any]) -> list[dict[str, Any]]:
    found = [card]
    for block in card.get("body") or ():
        found.extend(_parts(block) if block.get("type") == "Container" else [block])
    found.extend(card.get("items") or ())
    return found


async def write_form_submit(bot: BotServer, answer: str) -> tuple[Message, dict[str, Any]]:
    """Bob's `unanswered` card, and the activity Teams posts when he sends its form."""
    await say(bot, DECLINED)
    [reply] = await say(bot, "unanswered 7d", **BOB)
    [action] = [a for t, a in forms(reply) if "bring my dog" in t]
    [submit] = action["card"]["actions"]
    prefix = submit["data"]["prefix"]
    activity = bot.connector.activity("", mention_bot=False, **BOB)
    value = {**submit["data"], prefix + "question": DECLINED, prefix + "answer": answer}
    activity.update({"replyToId": reply.id, "value": value})
    return reply, activity


def shown(bot: BotServer, message: Message) -> Message:
    [now] = [m for m in bot.connector.visible(message.conversation_id) if m.id == message.id]
    return now


async def test_a_saved_form_turns_its_card_read_only(make_bot: BotFactory):
    bot = await make_bot(admins=("aad-bob",))
    card, activity = await write_form_submit(bot, ANSWER)
    assert has_actions(card)
    [saved] = await send(bot, activity)
    assert "saved" in saved.text

    [(answer_id, updated_at)] = await rows(
        bot.runtime.db.pool, "SELECT id, updated_at FROM verified_answers"
    )
    day = f"{updated_at.day} {updated_at:%b %Y}"
    now = shown(bot, card)
    assert now.edits == 1
    assert f"Saved as verified answer #{answer_id} · Bob · {day}" in card_texts(now)
    assert any(DECLINED in t for t in card_texts(now))
    assert not has_actions(now) and forms(now) == []
    [update] = [r for r in bot.connector.requests if r.method == "PUT"]
    assert (update.activity_id, update.status) == (card.id, 200)

    # The old card's submit arrives again: nothing said, saved or changed.
    assert await send(bot, activity) == []
    assert shown(bot, card).edits == 1
    [(count,)] = await rows(bot.runtime.db.pool, "SELECT count(*) FROM verified_answers")
    assert count == 1


async def test_a_form_that_fails_to_save_keeps_its_card(make_bot: BotFactory):
    bot = await make_bot(admins=("aad-bob",))
    card, activity = await write_form_submit(bot, "   ")
    [problem] = await send(bot, activity)
    assert "::" in problem.text  # what went wrong, and how to write it
    now = shown(bot, card)
    assert now.edits == 0 and has_actions(now)
    assert not [r for r in bot.connector.requests if r.method == "PUT"]


async def test_a_file_consent_accepted_twice_uploads_one_file(make_bot: BotFactory):
    bot = await make_bot(admins=("aad-bob",))
    [offer] = await say(bot, "stats csv 7d", **BOB)
    accept = bot.connector.file_consent(offer, user="29:bob", aad="aad-bob")
    [shown_file] = await send(bot, accept)
    assert shown_file.text == "Here is your file."

    # Teams delivers the same accept again (a late ack), then a second press of the card
    # arrives as an invoke of its own with a new upload session: each gets 200, nothing more.
    for again in (accept, bot.connector.file_consent(offer, user="29:bob", aad="aad-bob")):
        status, _ = await bot.post(again)
        assert status == 200
        await bot.settle()
    assert len(bot.connector.files) == 1
    files = [
        m
        for m in bot.connector.visible(offer.conversation_id)
        if any(
            a.get("contentType") == "application/vnd.microsoft.teams.card.file.info"
            for a in m.activity.get("attachments") or ()
        )
    ]
    assert len(files) == 1
