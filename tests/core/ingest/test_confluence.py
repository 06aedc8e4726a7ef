"""Confluence spaces through a local Confluence REST API, into real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bots.runtime import Runtime
from core.errors import IngestError
from core.ingest.connectors.confluence import ConfluenceSpace
from tests.core.ingest.helpers import everything, indexed
from tests.support.fake_confluence import FakeConfluence, running

ONBOARDING = "<h1>First week</h1><p>Your buddy meets you at reception on Monday.</p>"
EXPENSES = (
    "<h2>Claims</h2><p>Submit receipts within 30 days.</p>"
    '<ac:structured-macro ac:name="info"><ac:rich-text-body><p>Taxis need a reason.</p>'
    "</ac:rich-text-body></ac:structured-macro>"
)
PAYROLL = "<p>Payday is the 25th of each month.</p><ul><li>Payslips are in the portal.</li></ul>"


@pytest.fixture
async def wiki() -> AsyncIterator[tuple[FakeConfluence, str]]:
    fake = FakeConfluence()
    fake.put("HR", "Onboarding", ONBOARDING)
    fake.put("HR", "Expenses", EXPENSES)
    fake.put("HR", "Payroll", PAYROLL)
    fake.put("ENG", "Deploys", "<p>Not in the HR space.</p>")
    async with running(fake) as base:
        yield fake, base


async def ingest(runtime: Runtime, fake: FakeConfluence, base: str, **overrides: str):
    options = {"base_url": base, "space": "HR", "token": fake.token}
    options.update(overrides)
    source = ConfluenceSpace(**options)  # type: ignore[arg-type]
    source.permissions = runtime.audiences
    try:
        return await runtime.ingestor.ingest_source(source)
    finally:
        await source.aclose()


async def test_space_pages_are_ingested_with_their_links(runtime: Runtime, wiki):
    fake, base = wiki
    report = await ingest(runtime, fake, base)

    assert report.failed == [] and report.added == 3
    docs = {v[0]: v for v in (await indexed(runtime, "confluence")).values()}
    assert set(docs) == {"Onboarding", "Expenses", "Payroll"}
    assert docs["Expenses"][1] == f"{base}/spaces/HR/pages/{fake.put('HR', 'Expenses', EXPENSES).id}/Expenses"
    assert "Taxis need a reason" in docs["Expenses"][2]  # macro bodies are read too
    assert "Payslips are in the portal" in docs["Payroll"][2]
    async with runtime.db.pool.connection() as conn:
        cur = await conn.execute("SELECT DISTINCT domain FROM documents WHERE source = 'confluence'")
        assert [r[0] for r in await cur.fetchall()] == ["hr"]


async def test_cloud_basic_auth_is_used_with_an_email(runtime: Runtime, wiki):
    fake, base = wiki
    fake.email = "bot@example.com"
    report = await ingest(runtime, fake, base, email="bot@example.com")
    assert report.added == 3


async def test_unchanged_pages_are_not_fetched_and_changes_are_applied(runtime: Runtime, wiki):
    fake, base = wiki
    await ingest(runtime, fake, base)
    fake.requests.clear()

    again = await ingest(runtime, fake, base)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert fake.bodies_fetched() == []

    fake.put("HR", "Payroll", PAYROLL.replace("25th", "28th"))
    fake.delete("HR", "Onboarding")
    fake.requests.clear()
    report = await ingest(runtime, fake, base)

    assert (report.updated, report.removed, report.unchanged) == (1, 1, 1)
    assert len(fake.bodies_fetched()) == 1
    docs = {v[0]: v for v in (await indexed(runtime, "confluence")).values()}
    assert set(docs) == {"Expenses", "Payroll"}
    assert "28th" in docs["Payroll"][2] and "25th" not in docs["Payroll"][2]


@pytest.mark.parametrize("problem", ["bad token", 500, "garbage"])
async def test_failing_confluence_keeps_the_index(runtime: Runtime, wiki, problem):
    fake, base = wiki
    await ingest(runtime, fake, base)
    before = await everything(runtime)
    overrides = {}
    if problem == "bad token":
        overrides["token"] = "expired"
    elif problem == "garbage":
        fake.garbage = True
    else:
        fake.fail_status = 500

    with pytest.raises(IngestError) as caught:
        await ingest(runtime, fake, base, **overrides)

    message = str(caught.value)
    expected = {"bad token": "refused the credentials (HTTP 401)", 500: "HTTP 500",
                "garbage": "not JSON"}[problem]
    assert expected in message and "Confluence space HR" in message
    assert await everything(runtime) == before
