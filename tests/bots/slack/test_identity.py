"""Who is asking on Slack: the confirmed email from users.info decides what a person may read
and whether they are an admin; an unconfirmed email counts for nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from core.settings import Settings
from tests.bots.slack.conftest import BOT_USER, TEAM, SlackHarness, dm, running_slack
from tests.bots.slack.test_commands_e2e import shown, slash
from tests.core.identity.helpers import SALARY_QUESTION, knowledge
from tests.support.fake_slack import FakeSlack


@asynccontextmanager
async def restricted_slack(
    settings: Settings, root: Path, **overrides: object
) -> AsyncIterator[SlackHarness]:
    fake = FakeSlack()
    fake.user_emails.update(
        {"UMARIA": "maria@example.com", "UBOB": "bob@example.com", "UMALLORY": "maria@example.com"}
    )
    fake.unconfirmed.add("UMALLORY")  # claims Maria's address; Slack has not confirmed it
    async with running_slack(settings, fake, load=False, **overrides) as slack:
        public, managers = knowledge(root)
        await slack.runtime.audiences.allow(str(managers), ("maria@example.com",))
        assert not (await slack.runtime.ingestor.ingest([public, managers])).failed
        yield slack


async def answer_to(slack: SlackHarness, user: str, text: str) -> str:
    await slack.event(dm(text, user=user, channel="D" + user))
    await slack.settle()
    return (await slack.answers())[-1][1]


async def test_a_restricted_document_reaches_its_audience_on_slack(
    settings: Settings, tmp_path: Path
):
    async with restricted_slack(settings, tmp_path) as slack:
        assert "104,000" in await answer_to(slack, "UMARIA", SALARY_QUESTION)
        assert "104,000" not in await answer_to(slack, "UBOB", SALARY_QUESTION)
        assert "104,000" not in await answer_to(slack, "UMALLORY", SALARY_QUESTION)
        looked_up = [c for c in slack.fake.calls if c.method == "users.info"]
        assert {c.args.get("user") for c in looked_up} == {"UMARIA", "UBOB", "UMALLORY"}
        # Known now: asking again costs no lookup.
        await answer_to(slack, "UMARIA", "How many days of annual leave do I get?")
        assert len([c for c in slack.fake.calls if c.method == "users.info"]) == len(looked_up)


async def test_an_answer_in_a_channel_uses_public_documents_only(
    settings: Settings, tmp_path: Path
):
    async with restricted_slack(settings, tmp_path) as slack:
        # Everyone in #general reads the answer, so Maria's access does not widen it.
        event = dm(f"<@{BOT_USER}> {SALARY_QUESTION}", user="UMARIA", channel="CGENERAL",
                   type="app_mention")
        event.pop("channel_type")
        await slack.event(event)
        await slack.settle()
        assert "104,000" not in (await slack.answers())[-1][1]
        assert "104,000" in await answer_to(slack, "UMARIA", SALARY_QUESTION)


async def test_a_new_person_is_looked_up_after_the_first_answer_when_slack_has_no_room(
    settings: Settings, tmp_path: Path
):
    async with restricted_slack(settings, tmp_path, slack_pacing_window_s=1.0) as slack:
        # users.info's budget is spent (a burst of new people): Maria's first answer does
        # not wait for it and sees public documents only.
        while await slack.bot.pacer.reserve(TEAM, "users.info", max_wait=0) is not None:
            pass
        assert "104,000" not in await answer_to(slack, "UMARIA", SALARY_QUESTION)
        await slack.runtime.people.settled()  # looked up in the background, paced
        assert "104,000" in await answer_to(slack, "UMARIA", SALARY_QUESTION + " Thanks")


async def test_admins_by_email_on_slack(settings: Settings, tmp_path: Path):
    async with restricted_slack(settings, tmp_path, admins=("Maria@Example.com",)) as slack:
        assert "admins only" not in shown(await slash(slack, "UMARIA", "stats"))
        assert "admins only" in shown(await slash(slack, "UMALLORY", "stats"))
        # role by email names the person Slack confirmed.
        await answer_to(slack, "UBOB", "How many days of annual leave do I get?")
        made = await slash(slack, "UMARIA", "role bob@example.com admin")
        assert "admin" in shown(made).lower()
        assert "admins only" not in shown(await slash(slack, "UBOB", "stats"))


async def test_a_person_s_slack_locale_reaches_the_answer(settings: Settings, tmp_path: Path):
    """Slack events carry no locale: users.info with include_locale gives it, and an answer to
    a question that names no language speaks the asker's (offline: the passages are quoted in
    English, and a French asker is told so in French)."""
    async with restricted_slack(settings, tmp_path) as slack:
        slack.fake.user_locales["UMARIA"] = "fr-FR"
        french = await answer_to(slack, "UMARIA", "Annual leave?")
        english = await answer_to(slack, "UBOB", "Annual leave?")
        assert "25 days" in french and "25 days" in english
        assert "Les documents de l'entreprise sont en anglais" in french
        assert "Les documents" not in english
        looked_up = [c for c in slack.fake.calls if c.method == "users.info"]
        assert looked_up and all(c.args.get("include_locale") == "true" for c in looked_up)
        # Kept with the person: the next answer knows it without asking Slack again.
        assert "Les documents de l'entreprise" in await answer_to(slack, "UMARIA", "Leave days?")
        assert len([c for c in slack.fake.calls if c.method == "users.info"]) == len(looked_up)
