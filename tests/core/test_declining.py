"""'I couldn't find that': a question the documents don't cover is declined plainly, with the
domain's help contact, no passages and no model call, and stored for the admins."""

from __future__ import annotations

from bots.runtime import Runtime
from core.console import CollectingReplyStream
from core.events import ChatEvent
from store.declined import DeclinedQuestions
from tests.core.test_assistant import event


async def ask(runtime: Runtime, chat: ChatEvent) -> tuple[object, CollectingReplyStream]:
    stream = CollectingReplyStream()
    answer = await runtime.assistant.handle(chat, stream)
    return answer, stream


async def test_a_question_the_documents_dont_cover_names_the_help_contact_and_shows_no_sources(
    loaded_runtime: Runtime,
):
    question = "How do I join the pension scheme in Brazil?"
    stream = CollectingReplyStream()
    answer = await loaded_runtime.assistant.handle(event(question, thread="T-brazil"), stream)

    assert answer.status == "not_found"
    assert "couldn't find" in stream.text and "don't seem to cover it" in stream.text
    assert "the People Team (HR)" in stream.text  # the HR domain's help contact
    # Nothing that would only look like an answer: no passages, no Sources list.
    assert answer.sources == [] and answer.citations == []
    assert stream.answer is answer and stream.text == answer.text
    assert "[1]" not in stream.text

    async with loaded_runtime.db.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, sources FROM messages WHERE id = %s", (answer.message_id,)
        )
        row = await cur.fetchone()
    assert row == ("not_found", [])
    declined = await DeclinedQuestions(loaded_runtime.db.pool).recent()
    assert [(d.question, d.domain, d.message_id) for d in declined] == [
        (question, "hr", answer.message_id)
    ]


async def test_an_it_question_outside_the_documents_is_sent_to_the_it_help_hub(
    loaded_runtime: Runtime,
):
    stream = CollectingReplyStream()
    answer = await loaded_runtime.assistant.handle(
        event("How do I set up a VPN on my personal gaming PC?"), stream
    )
    assert answer.status == "not_found"
    assert stream.text.endswith("Please ask the IT Help Hub.")


async def test_a_covered_question_is_still_answered(loaded_runtime: Runtime):
    stream = CollectingReplyStream()
    answer = await loaded_runtime.assistant.handle(
        event("How many days of annual leave do associates in Lisbon get?"), stream
    )
    assert answer.status == "complete"
    assert "23 working days" in stream.text
    assert answer.citations


async def test_help_contacts_come_from_settings(settings, tmp_path):
    from core.settings import Settings
    from tests.conftest import SAMPLE_KNOWLEDGE

    configured = Settings(
        **{**settings.model_dump(), "help_contacts": {"hr": "HR Direct on ext 7200"}}
    )
    async with await Runtime.start(configured) as runtime:
        await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        stream = CollectingReplyStream()
        answer = await runtime.assistant.handle(
            event("How do I join the pension scheme in Brazil?"), stream
        )
    assert answer.status == "not_found"
    assert stream.text.endswith("Please ask HR Direct on ext 7200.")


async def test_a_declined_question_costs_no_model_call(settings):
    from tests.conftest import SAMPLE_KNOWLEDGE
    from tests.core.llm.conftest import API_KEY, with_model
    from tests.support.fake_openai import FakeOpenAI, serve_fake

    fake = FakeOpenAI(api_key=API_KEY)
    fake.replies = ["This must never be shown [1]."]
    async with serve_fake(fake) as url, await Runtime.start(with_model(settings, url)) as runtime:
        await runtime.ingestor.ingest([SAMPLE_KNOWLEDGE])
        stream = CollectingReplyStream()
        answer = await runtime.assistant.handle(
            event("How do I set up a VPN on my personal gaming PC?"), stream
        )
    assert answer.status == "not_found"
    assert "This must never be shown" not in stream.text
    # Routing may ask the model (with tools); answering never did.
    assert [body for body in fake.bodies("chat") if "tools" not in body] == []
    assert answer.usage.output_tokens == 0
