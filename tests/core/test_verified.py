"""Verified answers end to end: admins write them with commands, and a question that means the
same gets the answer as written — marked, without the model — while a near-miss does not.
Real Postgres; the OpenAI-compatible fake for embeddings and chat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from bots.runtime import Runtime
from core.console import CollectingReplyStream
from core.events import ChatEvent, ConversationKind, Person, ThreadRef
from core.settings import Settings
from core.verified import VerifiedAnswers
from core.verified.answers import Author
from store.verified import PgVerifiedAnswers
from tests.conftest import SAMPLE_KNOWLEDGE
from tests.support.conversations import ask, commands_at, rows, someone
from tests.support.fake_openai import FakeOpenAI, serve_fake

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
LEAVE = "How many days of annual leave do I get in Lisbon?"
ANSWER = "25 working days a year, plus your birthday.\n\n• Book them in Workday.\n• Ask HR for more."


def event(text: str, *, user: str = "U1", thread: str = "T1") -> ChatEvent:
    return ChatEvent(
        person=Person(platform="test", workspace_id="W1", user_id=user),
        thread=ThreadRef("test", "W1", f"D-{user}", thread, ConversationKind.DM),
        text=text,
    )


@asynccontextmanager
async def with_model(settings: Settings, **overrides: Any) -> AsyncIterator[tuple[Runtime, FakeOpenAI]]:
    """A runtime with a chat model and embeddings, both the fake's, over the sample documents."""
    fake = FakeOpenAI(dimensions=64)
    # The fake's vectors are bags of words: synonyms stand in for a model's sense of meaning.
    fake.add_synonyms(["leave", "vacation", "holiday"], ["many", "much"], ["days", "time"])
    async with serve_fake(fake) as url:
        configured = settings.model_copy(
            update={
                "openai_base_url": url,
                "openai_api_key": SecretStr("test-key"),
                "chat_model": "fake-chat",
                "embedding_model": "fake-embed",
                "answer_cache_ttl": 0,
                **overrides,
            }
        )
        async with await Runtime.start(configured) as runtime:
            report = await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
            assert not report.failed
            yield runtime, fake


async def admin(runtime: Runtime):
    return await someone(runtime, "UADMIN", name="Ana Admin", email="ana@example.com")


async def asked(runtime: Runtime, text: str, **kwargs: Any):
    stream = CollectingReplyStream()
    answer = await runtime.assistant.handle(event(text, **kwargs), stream)
    return answer, stream


async def test_a_paraphrase_gets_the_verified_answer_as_written_without_the_model(
    settings: Settings,
):
    async with with_model(settings) as (runtime, fake):
        ana = await admin(runtime)
        handler = commands_at(runtime, NOW, admins=("ana@example.com",))
        added = await ask(
            handler, ana, f"answers add {LEAVE} :: {ANSWER}\nsource: https://intranet.example.com/leave"
        )
        assert added.ok, added.text
        chats = fake.count("chat")

        answer, stream = await asked(runtime, "How much vacation time do I get in Lisbon?")

        assert answer.status == "verified"
        first_line = answer.text.split("\n\n")[0]
        assert first_line.startswith("_Verified answer · Ana Admin · ")
        assert ANSWER in answer.text  # as written: line breaks and bullets kept
        assert answer.text.endswith("Source: <https://intranet.example.com/leave>")
        assert stream.text == answer.text and stream.answer is answer
        # No model call and no retrieval: nothing said "Searching…".
        assert fake.count("chat") == chats and stream.statuses == []
        stored = await rows(
            runtime.db.pool,
            "SELECT status, text, verified_answer_id FROM messages WHERE id = %s",
            answer.message_id,
        )
        assert stored[0][0] == "verified" and stored[0][1] == answer.text
        assert stored[0][2] is not None

        listed = await ask(handler, ana, "answers list")
        assert "given 1 time" in listed.text and LEAVE in listed.text


async def test_a_near_miss_about_another_office_is_answered_from_the_documents(
    settings: Settings,
):
    async with with_model(settings) as (runtime, fake):
        ana = await admin(runtime)
        handler = commands_at(runtime, NOW, admins=("ana@example.com",))
        assert (await ask(handler, ana, f"answers add {LEAVE} :: {ANSWER}")).ok
        chats = fake.count("chat")

        answer, stream = await asked(runtime, "How many days of annual leave do I get in Toronto?")

        assert answer.status != "verified" and "Verified answer" not in answer.text
        assert fake.count("chat") > chats  # answered by the model, from the documents
        assert stream.statuses  # it searched


async def test_without_embeddings_words_and_trigrams_match_a_paraphrase(runtime: Runtime):
    report = await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
    assert not report.failed
    ana = await admin(runtime)
    handler = commands_at(runtime, NOW, admins=("ana@example.com",))
    assert (await ask(handler, ana, "answers add How do I book a meeting room? :: Use Outlook.")).ok

    answer, _ = await asked(runtime, "How can I reserve a meeting room?")
    assert answer.status == "verified" and answer.text.endswith("Use Outlook.")

    other, _ = await asked(runtime, "How do I book a desk?", thread="T2")
    assert other.status != "verified"


async def test_a_follow_up_in_a_thread_is_not_given_a_verified_answer(runtime: Runtime):
    ana = await admin(runtime)
    handler = commands_at(runtime, NOW, admins=("ana@example.com",))
    assert (await ask(handler, ana, "answers add How do I book a meeting room? :: Use Outlook.")).ok
    await asked(runtime, "Where is the Lisbon office?", thread="T-follow")

    follow_up, _ = await asked(runtime, "And how do I book a meeting room?", thread="T-follow")
    assert follow_up.status != "verified"
    # A question that stands on its own is not a follow-up, however long the conversation.
    own, _ = await asked(runtime, "How can I reserve a meeting room?", thread="T-follow")
    assert own.status == "verified"


async def test_edit_and_remove_change_what_is_answered_and_every_change_is_audited(
    runtime: Runtime,
):
    ana = await admin(runtime)
    handler = commands_at(runtime, NOW, admins=("ana@example.com",))
    added = await ask(handler, ana, "answers add How do I book a meeting room? :: Use Outlook.")
    number = added.title.split("#")[1].split()[0]

    edited = await ask(handler, ana, f"answers edit {number} :: Use the Rooms app.")
    assert edited.ok and "Use the Rooms app." in edited.text
    answer, _ = await asked(runtime, "How do I book a meeting room?")
    assert answer.text.endswith("Use the Rooms app.")

    removed = await ask(handler, ana, f"answers remove {number}")
    assert removed.ok
    again, _ = await asked(runtime, "How do I book a meeting room?", thread="T2")
    assert again.status != "verified"
    missing = await ask(handler, ana, f"answers remove {number}")
    assert not missing.ok and "no verified answer" in missing.title

    audit = await rows(
        runtime.db.pool,
        "SELECT action, target, outcome, details ->> 'op' FROM audit_log ORDER BY id",
    )
    assert audit == [
        ("answers", f"verified:{number}", "ok", "add"),
        ("answers", f"verified:{number}", "ok", "edit"),
        ("answers", f"verified:{number}", "ok", "remove"),
        ("answers", f"verified:{number}", "rejected", "remove"),
    ]
    # The audit line never holds the question or the answer.
    details = await rows(runtime.db.pool, "SELECT details::text FROM audit_log")
    assert not any("Outlook" in d or "Rooms" in d for (d,) in details)


async def test_a_non_admin_is_refused_the_admins_loop_and_each_attempt_is_audited(
    runtime: Runtime,
):
    bob = await someone(runtime, "UBOB")
    handler = commands_at(runtime, NOW)

    for command in (f"answers add {LEAVE} :: 40 days", "unanswered 30d", "stats csv 30d"):
        reply = await ask(handler, bob, command)
        assert not reply.ok and "admins only" in reply.text and reply.file_content is None

    audit = await rows(
        runtime.db.pool, "SELECT actor, action, outcome FROM audit_log ORDER BY id"
    )
    assert audit == [
        ("test:W1:UBOB", "answers", "refused"),
        ("test:W1:UBOB", "unanswered", "refused"),
        ("test:W1:UBOB", "stats", "refused"),
    ]
    assert await rows(runtime.db.pool, "SELECT id FROM verified_answers") == []


async def test_commands_are_told_from_questions_in_a_chat(runtime: Runtime):
    assert runtime.commands.is_command("answers add How do I print? :: Use the badge.")
    assert runtime.commands.is_command("answers list")
    assert runtime.commands.is_command("answers remove 3")
    assert runtime.commands.is_command("unanswered 30d")
    assert runtime.commands.is_command("stats csv")
    assert not runtime.commands.is_command("answers to my questions about leave?")
    assert not runtime.commands.is_command("unanswered questions are sent where?")


async def test_another_replica_gives_a_new_answer_and_stops_giving_a_removed_one(
    runtime: Runtime,
):
    # A second server process over the same database, checking for changes at every question.
    elsewhere = VerifiedAnswers(PgVerifiedAnswers(runtime.db.pool), recheck_s=0)
    assert await elsewhere.match("How can I reserve a meeting room?") is None
    ana = await admin(runtime)
    handler = commands_at(runtime, NOW, admins=("ana@example.com",))
    added = await ask(handler, ana, "answers add How do I book a meeting room? :: Use Outlook.")

    found = await elsewhere.match("How can I reserve a meeting room?")
    assert found is not None and found.text.endswith("Use Outlook.")

    number = added.title.split("#")[1].split()[0]
    assert (await ask(handler, ana, f"answers remove {number}")).ok
    assert await elsewhere.match("How can I reserve a meeting room?") is None


async def test_after_the_embedding_model_changes_questions_are_embedded_again(
    settings: Settings,
):
    async with with_model(settings) as (runtime, _):
        ana = await admin(runtime)
        handler = commands_at(runtime, NOW, admins=("ana@example.com",))
        assert (await ask(handler, ana, f"answers add {LEAVE} :: {ANSWER}")).ok
        assert await rows(runtime.db.pool, "SELECT embedding_model FROM verified_answers") == [
            ("fake-embed",)
        ]
    async with with_model(settings, embedding_model="fake-embed-2") as (runtime, _):
        answer, _ = await asked(runtime, "How much vacation time do I get in Lisbon?")
        assert answer.status == "verified"
        assert await rows(runtime.db.pool, "SELECT embedding_model FROM verified_answers") == [
            ("fake-embed-2",)
        ]


async def test_an_admin_who_is_forgotten_no_longer_signs_their_verified_answers(
    runtime: Runtime,
):
    ana = await admin(runtime)
    handler = commands_at(runtime, NOW, admins=("ana@example.com",))
    assert (await ask(handler, ana, "answers add How do I book a meeting room? :: Use Outlook.")).ok
    assert (await ask(handler, ana, "forget-me confirm")).ok

    answer, _ = await asked(runtime, "How do I book a meeting room?", user="UBOB")
    assert answer.status == "verified" and "Ana" not in answer.text
    assert answer.text.startswith("_Verified answer · an admin · ")


def test_an_answer_with_an_audience_is_never_given_when_groups_could_not_be_checked():
    from core.identity.principals import Scope
    from core.verified import VerifiedAnswer

    def answer(audience: list[str] | None) -> VerifiedAnswer:
        return VerifiedAnswer(1, "q", "a", None, None, "Ana", NOW, NOW, audience=audience)

    hr = answer(["group:hr", "maria@example.com"])
    assert hr.is_for(Scope.of(["group:hr"]))
    assert hr.is_for(Scope.of(["maria@example.com", "group:it"]))
    assert not hr.is_for(Scope.of(["group:it"]))
    # Graph was down: the person's groups are unknown, so the answer is not theirs to see.
    assert not hr.is_for(Scope.of(["group:hr"], checked=False))
    assert answer(None).is_for(Scope.of([], checked=False))


async def test_an_answer_added_while_questions_are_checked_is_given_next_and_a_burst_gets_it(
    runtime: Runtime,
):
    ana = await admin(runtime)
    answers = VerifiedAnswers(PgVerifiedAnswers(runtime.db.pool), recheck_s=0.5)
    author = Author(user_id=ana.id, name="Ana Admin")
    await answers.add("How do I book a meeting room?", "Use Outlook.", source_url=None, author=author)
    assert await answers.match("How can I reserve a meeting room?") is not None
    await asyncio.sleep(0.6)  # the copy is due for a check

    # An admin adds an answer while a question is being checked: the next question gets it.
    under_way = asyncio.ensure_future(answers.match("How can I reserve a meeting room?"))
    await asyncio.sleep(0)
    await answers.add("How do I order a new laptop?", "Ask the IT Help Hub.", source_url=None, author=author)
    assert (await under_way) is not None

    # Questions at once share one check of the table, and every one gets both answers.
    rooms = answers.match("How can I reserve a meeting room?")
    laptops = answers.match("How do I order a new laptop?")
    burst = await asyncio.gather(*([rooms] + [answers.match("How can I reserve a meeting room?") for _ in range(9)] + [laptops]))
    assert all(found is not None for found in burst)
    assert burst[0].text.endswith("Use Outlook.") and burst[-1].text.endswith("Ask the IT Help Hub.")
