"""A question's vector is asked for once, as soon as the question is taken, and only when the
question is searched as asked. Real Postgres; the OpenAI-compatible fake for embeddings and
chat."""

from __future__ import annotations

from core.settings import Settings
from tests.core.test_verified import LEAVE, NOW, admin, asked, with_model
from tests.support.conversations import ask, commands_at


def embedded(fake, since: int = 0) -> list[list[str]]:
    return [list(body["input"]) for body in fake.bodies("embeddings")[since:]]


async def test_a_question_matched_and_searched_is_embedded_once(settings: Settings):
    async with with_model(settings) as (runtime, fake):
        ana = await admin(runtime)
        handler = commands_at(runtime, NOW, admins=("ana@example.com",))
        assert (await ask(handler, ana, f"answers add {LEAVE} :: 25 working days a year.")).ok
        fake.behaviour.embedding_latency_s = 0.05
        before = len(fake.bodies("embeddings"))

        question = "How many days of annual leave do I get in Toronto?"
        answer, stream = await asked(runtime, question)

        # Matched against the verified answer (not the same office), then searched: both read
        # the one vector requested when the question was taken.
        assert answer.status != "verified" and stream.statuses
        assert embedded(fake, before) == [[question]]


async def test_a_follow_up_is_embedded_only_with_the_question_before_it(settings: Settings):
    async with with_model(settings) as (runtime, fake):
        await asked(runtime, "How many days of annual leave do I get in Lisbon?", thread="T9")
        before = len(fake.bodies("embeddings"))

        await asked(runtime, "And contractors?", thread="T9")

        inputs = [text for batch in embedded(fake, before) for text in batch]
        assert inputs, "the follow-up was searched by meaning too"
        # "And contractors?" alone means nothing: no vector is bought for it.
        assert "And contractors?" not in inputs
        assert all("annual leave" in text for text in inputs)
