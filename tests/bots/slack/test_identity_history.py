"""History search and conversation summaries carry a restricted document's text to no one
outside its audience: an answer in a shared thread is drawn from public documents whoever asks,
so what a colleague in that thread can search or have summarized holds none of it; a private
answer is searchable by its asker alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from core.settings import Settings
from jobs.summaries import Summaries
from store.summaries import SummaryStore
from tests.bots.slack.conftest import BOT_USER, dm, new_ts
from tests.bots.slack.test_commands_e2e import shown, slash
from tests.bots.slack.test_identity import answer_to, restricted_slack
from tests.core.identity.helpers import SALARY_QUESTION
from tests.support.conversations import rows


def in_thread(text: str, user: str, thread: str, **where: str) -> dict[str, str]:
    event = dm(f"<@{BOT_USER}> {text}", user=user, channel="CSHARED", type="app_mention",
               **where)
    event.pop("channel_type")
    return event


async def test_history_and_summaries_keep_restricted_text_with_its_audience(
    settings: Settings, tmp_path: Path
):
    async with restricted_slack(settings, tmp_path) as slack:
        pool = slack.runtime.db.pool
        # Maria (the audience) asks privately, then in a channel thread Bob joins.
        assert "104,000" in await answer_to(slack, "UMARIA", SALARY_QUESTION)
        thread = new_ts()
        await slack.event(in_thread(SALARY_QUESTION, "UMARIA", thread, ts=thread))
        await slack.settle()
        await slack.event(in_thread("And the grade seven salary band start?", "UBOB", thread,
                                    thread_ts=thread))
        await slack.settle()
        [(shared,)] = await rows(pool, "SELECT id FROM conversations WHERE kind = 'channel'")
        shared_answers = await rows(
            pool, "SELECT text FROM messages WHERE conversation_id = %s AND role = 'assistant'",
            shared,
        )
        assert shared_answers and not any("104,000" in t for (t,) in shared_answers)

        # Bob's history search, from the channel and from his DM: nothing of the bands.
        for channel in ("CSHARED", None):
            found = shown(await slash(slack, "UBOB", "history salary band", channel=channel))
            assert "104,000" not in found and "91,000" not in found
        assert "grade seven" in shown(
            await slash(slack, "UBOB", "history salary band", channel="CSHARED")
        )  # the thread is found, its answers hold only public text
        # Maria finds her own private answer.
        assert "salary" in shown(await slash(slack, "UMARIA", "history salary band")).lower()

        # Summaries: the shared thread's holds none of it; the private one is Maria's only.
        await Summaries(SummaryStore(pool), quiet=timedelta(0))()
        summaries = dict(await rows(
            pool, """SELECT c.kind, s.summary FROM conversation_summaries s
                     JOIN conversations c ON c.id = s.conversation_id"""
        ))
        assert "104,000" not in summaries["channel"]
        assert any("104,000" in text for kind, text in summaries.items() if kind != "channel")
        found = shown(await slash(slack, "UBOB", "history grade seven", channel="CSHARED"))
        assert "104,000" not in found and "91,000" not in found
