"""Who is asking on Teams: the email from the Bot Connector's member record decides what a
person may read and whether they are an admin."""

from __future__ import annotations

from pathlib import Path

from tests.bots.teams.conftest import BotFactory, BotServer
from tests.core.identity.helpers import SALARY_QUESTION, knowledge

MARIA = {"user": "29:maria", "aad": "aad-maria", "user_name": "Maria"}
BOB = {"user": "29:bob", "aad": "aad-bob", "user_name": "Bob"}


async def restricted(bot: BotServer, root: Path) -> BotServer:
    bot.connector.member_emails.update({"29:maria": "Maria@Example.com", "29:bob": "bob@example.com"})
    public, managers = knowledge(root)
    await bot.runtime.audiences.allow(str(managers), ("maria@example.com",))
    assert not (await bot.runtime.ingestor.ingest([public, managers])).failed
    return bot


async def said(bot: BotServer, text: str, who: dict[str, str]) -> str:
    status, _ = await bot.post(bot.connector.activity(text, **who))
    assert status in (200, 201, 202)
    await bot.settle()
    return bot.connector.visible(f"a:personal-{who['user']}")[-1].text


async def test_a_restricted_document_reaches_its_audience_on_teams(
    make_bot: BotFactory, tmp_path: Path
):
    bot = await restricted(await make_bot(), tmp_path)
    assert "104,000" in await said(bot, SALARY_QUESTION, MARIA)
    assert "104,000" not in await said(bot, SALARY_QUESTION, BOB)
    assert bot.connector.member_lookups == ["29:maria", "29:bob"]
    await said(bot, "How many days of annual leave do I get?", MARIA)
    assert len(bot.connector.member_lookups) == 2  # known now: no lookup


async def test_admins_by_email_on_teams(make_bot: BotFactory, tmp_path: Path):
    bot = await restricted(await make_bot(admins=("maria@example.com",)), tmp_path)
    assert "admins only" not in await said(bot, "stats", MARIA)
    assert "admins only" in await said(bot, "stats", BOB)


async def test_member_lookup_down_answers_with_public_documents_then_catches_up(
    make_bot: BotFactory, tmp_path: Path
):
    bot = await restricted(await make_bot(), tmp_path)
    bot.connector.members_down = True
    assert "104,000" not in await said(bot, SALARY_QUESTION, MARIA)
    bot.connector.members_down = False
    await bot.runtime.people.settled()
    assert "104,000" in await said(bot, SALARY_QUESTION + " Thanks", MARIA)


def mentioning(bot: BotServer, text: str, who: dict[str, str], mentioned: dict[str, str]):
    """``text`` with ``mentioned`` @-mentioned, as Teams posts it: the mention's id is the
    Teams user id (``29:…``), not the Entra object id the person is known by."""
    activity = bot.connector.activity(text, **who)
    activity["text"] = text.replace("@", f"<at>{mentioned['user_name']}</at>", 1)
    activity["entities"].append({
        "type": "mention",
        "text": f"<at>{mentioned['user_name']}</at>",
        "mentioned": {"id": mentioned["user"], "name": mentioned["user_name"]},
    })
    return activity


async def test_role_by_mention_on_teams_reaches_the_person_mentioned(
    make_bot: BotFactory, tmp_path: Path
):
    bot = await restricted(await make_bot(admins=("maria@example.com",)), tmp_path)
    await said(bot, "How many days of annual leave do I get?", BOB)
    assert "admins only" in await said(bot, "stats", BOB)
    status, _ = await bot.post(mentioning(bot, "role @ admin", MARIA, BOB))
    assert status in (200, 201, 202)
    await bot.settle()
    assert "now an admin" in bot.connector.visible("a:personal-29:maria")[-1].text
    assert "admins only" not in await said(bot, "stats", BOB)


async def test_role_by_email_on_teams(make_bot: BotFactory, tmp_path: Path):
    bot = await restricted(await make_bot(admins=("maria@example.com",)), tmp_path)
    await said(bot, "How many days of annual leave do I get?", BOB)
    assert "now an admin" in await said(bot, "role bob@example.com admin", MARIA)
    assert "admins only" not in await said(bot, "stats", BOB)
