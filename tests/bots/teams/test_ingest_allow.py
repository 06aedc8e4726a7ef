"""An admin ingests an intranet page from Teams with ``--allow``: the audience reads it, no one
else does; a link written as ``<https://…>`` survives Teams' markup, and a bare ``--allow``
ingests nothing."""

from __future__ import annotations

from tests.bots.slack.test_ingest_allow import intranet
from tests.bots.teams.conftest import BotFactory, BotServer
from tests.bots.teams.test_identity import BOB, MARIA
from tests.core.identity.helpers import SALARY_QUESTION

ADMIN = {"user": "29:admin", "aad": "aad-admin", "user_name": "IT Ops"}


async def teams_bot(make_bot: BotFactory) -> BotServer:
    bot = await make_bot(admins=("it-ops@example.com",), ingest_allowed_hosts=("127.0.0.1",))
    bot.connector.member_emails.update(
        {"29:admin": "it-ops@example.com", "29:maria": "maria@example.com",
         "29:bob": "bob@example.com"}
    )
    return bot


async def said(bot: BotServer, text: str, who: dict[str, str]) -> str:
    status, _ = await bot.post(bot.connector.activity(text, **who))
    assert status in (200, 201, 202)
    await bot.settle()
    return "\n".join(a.text or "" for a in bot.connector.visible(f"a:personal-{who['user']}"))


async def test_an_admin_ingests_a_page_for_its_audience_on_teams(make_bot: BotFactory):
    async with intranet() as url:
        bot = await teams_bot(make_bot)
        await said(bot, f"ingest <{url}> --allow maria@example.com --allow group:HR Managers", ADMIN)
        _, restricted = await bot.runtime.audiences.restricted()
        # The group with a space in its name is one principal, recognised as a group.
        assert [(d.location, sorted(d.audience)) for d in restricted] == [
            (url, ["group:hr managers", "maria@example.com"])
        ], restricted
        assert "104,000" in await said(bot, SALARY_QUESTION, MARIA)
        assert "104,000" not in await said(bot, SALARY_QUESTION, BOB)


async def test_a_bare_allow_ingests_nothing_on_teams(make_bot: BotFactory):
    async with intranet() as url:
        bot = await teams_bot(make_bot)
        assert "--allow needs someone" in await said(bot, f"ingest {url} --allow", ADMIN)
        assert "104,000" not in await said(bot, SALARY_QUESTION, BOB)
        assert (await bot.runtime.audiences.restricted())[1] == []
