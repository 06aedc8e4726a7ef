"""An admin ingests an intranet page from Slack with ``--allow``: the audience reads it, no one
else does, and a bare ``--allow`` ingests nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer

from core.settings import Settings
from tests.bots.slack.conftest import SlackHarness, running_slack
from tests.bots.slack.test_commands_e2e import shown, slash_form
from tests.bots.slack.test_identity import answer_to
from tests.core.identity.helpers import SALARY, SALARY_QUESTION
from tests.support.fake_slack import FakeSlack

PAGE = f"<html><head><title>Salary bands 2027</title></head><body><p>{SALARY}</p></body></html>"


@asynccontextmanager
async def intranet() -> AsyncIterator[str]:
    """One intranet page (the HR managers' salary bands); its address."""
    app = web.Application()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app.router.add_get("/hr/salary-bands", page)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/hr/salary-bands"))


@asynccontextmanager
async def slack_with_groups(settings: Settings) -> AsyncIterator[SlackHarness]:
    fake = FakeSlack()
    fake.user_emails.update(
        {"UADMIN": "it-ops@example.com", "UMARIA": "maria@example.com", "UBOB": "bob@example.com"}
    )
    async with running_slack(
        settings,
        fake,
        load=False,
        admins=("it-ops@example.com",),
        ingest_allowed_hosts=("127.0.0.1",),
    ) as slack:
        yield slack


async def ingest(slack: SlackHarness, who: str, text: str) -> str:
    """``/assistant ingest …`` typed by ``who``; the last reply posted for it (after
    "Reading …")."""
    key = f"ingest-{who}-{len(slack.fake.responses)}"
    response = await slack.form(slash_form(slack, who, text, key))
    assert response.status == 200
    await slack.settle()
    return shown([r for r in slack.fake.responses if r["key"] == key][-1])


async def test_an_admin_ingests_a_page_for_maria_only(settings: Settings):
    async with intranet() as url, slack_with_groups(settings) as slack:
        # Slack wraps a typed link as <https://…>.
        reply = await ingest(slack, "UADMIN", f"ingest <{url}> --allow maria@example.com")
        assert "Ingested" in reply, reply
        assert "104,000" in await answer_to(slack, "UMARIA", SALARY_QUESTION)
        assert "104,000" not in await answer_to(slack, "UBOB", SALARY_QUESTION)


async def test_a_bare_allow_ingests_nothing(settings: Settings):
    async with intranet() as url, slack_with_groups(settings) as slack:
        reply = await ingest(slack, "UADMIN", f"ingest <{url}> --allow")
        assert "--allow needs someone" in reply, reply
        assert "104,000" not in await answer_to(slack, "UBOB", SALARY_QUESTION)
        _, restricted = await slack.runtime.audiences.restricted()
        assert restricted == []
