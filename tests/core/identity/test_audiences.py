"""A restricted document reaches its audience and no one else: by email, by group, through
Microsoft Graph (a local fake), and closed to everyone outside it when Graph is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bots.runtime import Runtime
from core.assistant import ACCESS_UNCHECKED as UNCHECKED
from core.settings import Settings
from tests.core.identity.helpers import SALARY_QUESTION, ask_as, knowledge, sees_salaries
from tests.support.fake_graph import FakeGraph, running

MANAGERS = ("group:hr managers", "maria@example.com")


async def restricted_runtime(runtime: Runtime, root: Path) -> Runtime:
    public, managers = knowledge(root)
    await runtime.audiences.allow(str(managers), MANAGERS)
    report = await runtime.ingestor.ingest([public, managers])
    assert not report.failed and report.added == 2
    return runtime


async def test_a_restricted_document_reaches_its_audience_and_no_one_else(
    runtime: Runtime, tmp_path: Path
):
    rt = await restricted_runtime(runtime, tmp_path / "kb")
    rt.people.assume("carol@example.com", ["HR Managers"])

    for outsider in (None, "bob@example.com", "Maria@Example.org"):
        answer, shown = await ask_as(rt, SALARY_QUESTION, outsider)
        assert not sees_salaries(answer) and "104,000" not in shown, outsider
    maria, _ = await ask_as(rt, SALARY_QUESTION, "Maria@Example.com")
    carol, _ = await ask_as(rt, SALARY_QUESTION, "carol@example.com")
    assert sees_salaries(maria) and sees_salaries(carol)
    # Public documents are everyone's, restricted or not.
    leave, _ = await ask_as(rt, "How many days of annual leave do I get?", None)
    assert any("Annual leave" in p.title for p in leave.sources)


async def test_a_revoked_permission_stops_at_the_next_ingest(runtime: Runtime, tmp_path: Path):
    rt = await restricted_runtime(runtime, tmp_path / "kb")
    rt.people.assume("carol@example.com", ["HR Managers"])
    assert sees_salaries((await ask_as(rt, SALARY_QUESTION, "carol@example.com"))[0])

    await rt.audiences.allow(str(tmp_path / "kb" / "hr-managers"), ("maria@example.com",))
    report = await rt.ingestor.ingest([tmp_path / "kb" / "hr-managers"])
    assert not report.failed

    assert not sees_salaries((await ask_as(rt, SALARY_QUESTION, "carol@example.com"))[0])
    assert sees_salaries((await ask_as(rt, SALARY_QUESTION, "maria@example.com"))[0])


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[tuple[FakeGraph, str]]:
    fake = FakeGraph(page_size=1)
    fake.join("carol@example.com", "Finance")
    fake.join("aad-dave", "HR Managers")
    async with running(fake, tmp_path) as ca_file:
        yield fake, ca_file


@pytest.fixture
async def graph_runtime(
    settings: Settings, graph: tuple[FakeGraph, str], tmp_path: Path
) -> AsyncIterator[Runtime]:
    fake, ca_file = graph
    configured = settings.model_copy(
        update={
            "groups_from_graph": True,
            "groups_timeout_s": 3.0,
            "sharepoint_tenant_id": fake.tenant_id,
            "sharepoint_client_id": fake.client_id,
            "sharepoint_client_secret": SecretStr(fake.client_secret),
            "graph_url": f"{fake.base_url}/v1.0",
            "entra_authority_host": fake.base_url,
            "graph_ca_file": Path(ca_file),
        }
    )
    async with await Runtime.start(configured) as rt:
        yield await restricted_runtime(rt, tmp_path / "kb")


async def test_a_group_member_from_graph_gets_it_and_a_non_member_does_not(
    graph_runtime: Runtime, graph: tuple[FakeGraph, str]
):
    fake, _ = graph
    # Carol is in Finance only; HR Managers counts through a group nested in it.
    carol, _ = await ask_as(graph_runtime, SALARY_QUESTION, "carol@example.com")
    assert not sees_salaries(carol)
    fake.join("erin@example.com", "Payroll")
    payroll = next(i for i, n in fake.groups.items() if n == "Payroll")
    managers = next(i for i, n in fake.groups.items() if n == "HR Managers")
    fake.nested[payroll] = [managers]
    erin, shown = await ask_as(graph_runtime, SALARY_QUESTION, "erin@example.com")
    assert sees_salaries(erin) and UNCHECKED.strip() not in shown
    assert any("transitiveMemberOf" in path for _, path in fake.requests)


async def test_graph_down_leaves_restricted_documents_out_and_says_so(
    graph_runtime: Runtime, graph: tuple[FakeGraph, str]
):
    fake, _ = graph
    fake.join("frank@example.com", "HR Managers")
    fake.fail_status = 503
    answer, shown = await ask_as(graph_runtime, SALARY_QUESTION, "frank@example.com")
    assert not sees_salaries(answer)
    assert "could not be checked" in shown and "could not be checked" in answer.text
    # Public documents still answer.
    leave, _ = await ask_as(graph_runtime, "How many days of annual leave do I get?", "frank@example.com")
    assert any("Annual leave" in p.title for p in leave.sources)
    # Back up: the next question sees what Frank may read.
    fake.fail_status = None
    again, shown = await ask_as(graph_runtime, SALARY_QUESTION, "frank@example.com", user="frank2")
    assert sees_salaries(again) and "could not be checked" not in shown


async def test_weekly_prompts_come_only_from_questions_answered_from_public_documents(
    runtime: Runtime, tmp_path: Path
):
    from datetime import UTC, datetime, timedelta

    from store.prompts import PromptStore

    rt = await restricted_runtime(runtime, tmp_path / "kb")
    assert sees_salaries((await ask_as(rt, SALARY_QUESTION, "maria@example.com"))[0])
    await ask_as(rt, "How many days of annual leave do I get?", "maria@example.com")
    now = datetime.now(UTC)
    asked = await PromptStore(rt.db.pool, defaults=()).questions(
        now - timedelta(days=1), now + timedelta(minutes=1), limit=10
    )
    assert [q.text for q in asked] == ["How many days of annual leave do I get?"]
