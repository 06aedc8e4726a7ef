"""SharePoint permissions and Confluence restrictions decide who reads each document: mirrored
at every listing through local Graph and Confluence fakes, into real Postgres, and asked
about as the people they name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bots.audiences import mirror_sources, set_audiences
from bots.runtime import Runtime
from core.errors import ConfigurationError, IngestError
from core.ingest import Ingestor
from core.ingest.chunking import Chunker
from core.ingest.connectors.confluence import ConfluenceSpace
from core.ingest.connectors.sharepoint import SharePointLibrary
from core.ingest.sources import sources_for
from core.llm.cache import CachedAnswer, MemoryAnswerCache
from core.settings import Settings
from jobs.reingest import Reingest, WholeCacheInvalidation
from store.knowledge import PgKnowledgeStore
from store.sources import KnowledgeSources
from tests.core.identity.helpers import LEAVE, SALARY, SALARY_QUESTION, ask_as, sees_salaries
from tests.support import fake_confluence
from tests.support.fake_confluence import FakeConfluence
from tests.support.fake_graph import (
    FakeGraph,
    app_certificate,
    group_grant,
    people_link,
    running,
    site_entra_group,
    site_everyone,
    site_group_grant,
    site_m365_group,
    site_user,
    user_grant,
)

SALARIES = "Policies/HR/salary-bands.md"
LEAVE_QUESTION = "How many days of annual leave do I get?"


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()
    fake.put(SALARIES, SALARY)
    fake.put("Policies/annual-leave.md", LEAVE)
    fake.join("dave@example.com", "HR Managers")
    fake.join("erin@example.com", "Finance")
    async with running(fake, tmp_path) as ca_file:
        yield fake, ca_file


@pytest.fixture
def configured(settings: Settings, graph: tuple[FakeGraph, str]) -> Settings:
    fake, ca_file = graph
    return settings.model_copy(
        update={
            "groups_from_graph": True,
            "sharepoint_tenant_id": fake.tenant_id,
            "sharepoint_client_id": fake.client_id,
            "sharepoint_client_secret": SecretStr(fake.client_secret),
            "sharepoint_site": f"{fake.hostname}:{fake.site_path}",
            "sharepoint_drive": "Documents",
            "sharepoint_folder": "/Policies",
            "graph_url": f"{fake.base_url}/v1.0",
            "entra_authority_host": fake.base_url,
            "graph_ca_file": Path(ca_file),
        }
    )


@pytest.fixture
async def rt(configured: Settings) -> AsyncIterator[Runtime]:
    async with await Runtime.start(configured) as runtime:
        yield runtime


def library(graph: tuple[FakeGraph, str], cert_file: Path | None = None) -> SharePointLibrary:
    fake, ca_file = graph
    return SharePointLibrary(
        tenant_id=fake.tenant_id, client_id=fake.client_id, client_secret=fake.client_secret,
        site=f"{fake.hostname}:{fake.site_path}", drive="Documents", folder="/Policies",
        graph_url=f"{fake.base_url}/v1.0", authority_host=fake.base_url, ca_file=ca_file,
        cert_file=str(cert_file) if cert_file else None,
    )


async def ingest_library(rt: Runtime, graph: tuple[FakeGraph, str], cert_file: Path | None = None):
    source = library(graph, cert_file)
    source.permissions = rt.audiences
    try:
        return await rt.ingestor.ingest_source(source)
    finally:
        await source.aclose()


async def readers(rt: Runtime, question: str = SALARY_QUESTION) -> set[str]:
    who = set()
    for email in ("maria@example.com", "dave@example.com", "bob@example.com", "erin@example.com"):
        answer, _ = await ask_as(rt, question, email, user=f"{email}-{len(who)}-{question[:9]}")
        found = sees_salaries(answer) if question == SALARY_QUESTION else any(
            "Annual leave" in p.title for p in answer.sources
        )
        if found:
            who.add(email.split("@")[0])
    return who


async def test_a_file_is_read_by_the_people_and_groups_sharepoint_grants(rt: Runtime, graph):
    fake, _ = graph
    managers = next(i for i, n in fake.groups.items() if n == "HR Managers")
    fake.share(SALARIES, user_grant("Maria@Example.com"), group_grant(managers, "HR Managers"))
    report = await ingest_library(rt, graph)
    assert report.failed == [] and report.added == 2

    assert await readers(rt) == {"maria", "dave"}  # dave through his Entra group
    anonymous, _ = await ask_as(rt, SALARY_QUESTION, None)
    assert not sees_salaries(anonymous)
    # The leave policy is shared with the whole organisation (a view link).
    assert await readers(rt, LEAVE_QUESTION) == {"maria", "dave", "bob", "erin"}


async def test_a_sharing_link_for_people_counts_as_those_people(rt: Runtime, graph):
    fake, _ = graph
    fake.share(SALARIES, people_link("bob@example.com"))
    await ingest_library(rt, graph)
    assert await readers(rt) == {"bob"}


async def test_a_revoked_permission_stops_at_the_next_listing_without_a_download(
    rt: Runtime, graph
):
    fake, _ = graph
    fake.share(SALARIES, user_grant("maria@example.com"))
    await ingest_library(rt, graph)
    assert await readers(rt) == {"maria"}
    downloads = len(fake.downloads())

    fake.share(SALARIES, user_grant("erin@example.com"))  # Maria's access revoked
    report = await ingest_library(rt, graph)
    assert report.unchanged == 2 and len(fake.downloads()) == downloads
    assert await readers(rt) == {"erin"}


async def test_site_groups_stand_for_the_audience_set_on_the_source(rt: Runtime, graph):
    fake, _ = graph
    fake.share(SALARIES, site_group_grant("People Members"))
    report = await ingest_library(rt, graph)
    # Graph cannot say who "People Members" are: no one, until an admin says; the report
    # names the group and what would list its members.
    assert await readers(rt) == set()
    [note] = report.notes
    assert "People Members" in note and "SHAREPOINT_CERT_FILE" in note and report.failed == []

    await rt.audiences.allow("sharepoint:", ("dave@example.com",))
    assert await readers(rt) == {"dave"}
    # An admin's audience narrows what SharePoint opens to the whole organisation, too.
    assert await readers(rt, LEAVE_QUESTION) == {"dave"}


async def test_site_group_members_are_read_from_sharepoint_with_the_app_certificate(
    rt: Runtime, graph, tmp_path: Path
):
    """With a certificate, site groups are their members: people by email, Entra and
    Microsoft 365 groups by id, "Everyone except external users" as everyone; a Microsoft 365
    group's owners claim is left out. The source's --allow no longer stands in for them."""
    fake, _ = graph
    fake.app_certificate = app_certificate(tmp_path)
    managers = next(i for i, n in fake.groups.items() if n == "HR Managers")
    fake.site_groups = {
        "5": ("People Members", [site_user("Maria@Example.com"),
                                 site_entra_group(managers, "HR Managers")]),
        "3": ("People Owners", [site_m365_group("0b7a1c9e-5d1f-4c8e-9a57-3f0f1e2d4c6b", "People",
                                                owners=True)]),
        "4": ("People Visitors", [site_everyone()]),
    }
    fake.share(SALARIES, site_group_grant("People Members", "5"),
               site_group_grant("People Owners", "3"))
    fake.share("Policies/annual-leave.md", site_group_grant("People Visitors", "4"))
    report = await ingest_library(rt, graph, fake.app_certificate)
    assert report.notes == [] and report.failed == []
    assert await readers(rt) == {"maria", "dave"}
    assert await readers(rt, LEAVE_QUESTION) == {"maria", "dave", "bob", "erin"}
    # An admin's "everyone" on the source does not open what the site groups restrict.
    await rt.audiences.allow("sharepoint:", None)
    assert await readers(rt) == {"maria", "dave"}
    # Members were read once a listing, not once a file.
    assert sum(1 for _, p in fake.requests if p.endswith("GetById(5)/users")) == 1

    # SharePoint refuses: those groups fall back to the source's audience, and it is said.
    fake.site_groups_refused = True
    await rt.audiences.allow("sharepoint:", ("erin@example.com",))
    report = await ingest_library(rt, graph, fake.app_certificate)
    assert await readers(rt) == {"erin"}
    [note] = report.notes
    assert "People Members" in note and "could not be read" in note


async def test_site_groups_stay_closed_when_sharepoint_refuses_the_app_sign_in(
    rt: Runtime, graph, tmp_path: Path
):
    """SharePoint's REST API turns away secret sign-ins; a certificate the app does not have
    registered is refused at sign-in. Either way nothing opens."""
    fake, _ = graph
    fake.site_groups = {"5": ("People Members", [site_user("maria@example.com")])}
    fake.share(SALARIES, site_group_grant("People Members", "5"))
    fake.app_certificate = app_certificate(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    report = await ingest_library(rt, graph, app_certificate(other))
    assert await readers(rt) == set()
    assert "could not be read" in report.notes[0]


async def test_a_permission_of_an_unknown_shape_opens_nothing(rt: Runtime, graph):
    fake, _ = graph
    fake.share(
        SALARIES,
        {"id": "p1", "roles": ["read"], "grantedToV2": {"somethingNew": {"id": "x"}}},
        {"id": "p2", "roles": ["read"], "link": {"scope": "tenantWide", "type": "view"}},
        {"id": "p3", "grantedToV2": {"user": {"email": "bob@example.com"}}},  # no roles
        user_grant("erin@example.com"),
    )
    report = await ingest_library(rt, graph)
    assert report.failed == []
    assert await readers(rt) == {"erin"}


async def test_permissions_that_cannot_be_read_change_nothing(rt: Runtime, graph):
    fake, _ = graph
    fake.share(SALARIES, user_grant("maria@example.com"))
    await ingest_library(rt, graph)
    fake.permissions_refused = True  # the app lost the right to read permissions
    fake.share(SALARIES, user_grant("bob@example.com"))
    with pytest.raises(IngestError, match="refused"):
        await ingest_library(rt, graph)
    assert await readers(rt) == {"maria"}


async def test_a_library_without_a_place_for_its_permissions_is_not_ingested(
    rt: Runtime, graph
):
    source = library(graph)
    try:
        with pytest.raises(ConfigurationError, match="nothing was ingested"):
            await rt.ingestor.ingest_source(source)
    finally:
        await source.aclose()
    anonymous, _ = await ask_as(rt, LEAVE_QUESTION, None)
    assert not any("Annual leave" in p.title for p in anonymous.sources)


async def test_permissions_only_refreshes_audiences_without_reading_content(
    rt: Runtime, graph
):
    fake, _ = graph
    fake.share(SALARIES, user_grant("maria@example.com"))
    await ingest_library(rt, graph)
    downloads = len(fake.downloads())

    fake.share(SALARIES, user_grant("bob@example.com"))
    # What `switchboard ingest --permissions-only` does with each configured source.
    changed = await mirror_sources([library(graph)], rt.audiences)
    assert changed == 1 and len(fake.downloads()) == downloads
    assert await readers(rt) == {"bob"}


# -- Confluence --------------------------------------------------------------------------

GRADE_EIGHT = "<h1>Grade eight</h1><p>The grade eight salary band is 120,000 to 131,000 euros.</p>"
GRADE_EIGHT_QUESTION = "What is the grade eight salary band?"


@pytest.fixture
async def wiki() -> AsyncIterator[tuple[FakeConfluence, str]]:
    fake = FakeConfluence()
    fake.put("HR", "Annual leave", "<p>Every associate gets 25 days of annual leave a year.</p>")
    fake.put("HR", "Salary bands", "<h1>Salary bands 2027</h1><p>Manager salary band for grade "
             "seven: 91,000 to 104,000 euros. The grade seven salary band applies from January.</p>")
    fake.put("HR", "Grade eight", GRADE_EIGHT)
    async with fake_confluence.running(fake) as base:
        yield fake, base


async def ingest_space(rt: Runtime, wiki) -> None:
    fake, base = wiki
    source = ConfluenceSpace(base_url=base, space="HR", token=fake.token, email=fake.email)
    source.permissions = rt.audiences
    try:
        report = await rt.ingestor.ingest_source(source)
    finally:
        await source.aclose()
    assert report.failed == []


async def who_reads(
    rt: Runtime, question: str, text: str, people: tuple[str, ...] = ("maria", "dave", "bob")
) -> set[str]:
    found = set()
    for n, email in enumerate(f"{name}@example.com" for name in people):
        answer, _ = await ask_as(rt, question, email, user=f"{email}-{n}-{question[:12]}")
        if text in answer.text:
            found.add(email.split("@")[0])
    return found


async def test_confluence_restrictions_and_their_ancestors_decide_who_reads_a_page(
    rt: Runtime, wiki
):
    fake, _ = wiki
    # Salary bands: Maria, the HR Managers group, and someone whose email Confluence hides.
    fake.restrict("HR", "Salary bands", people=("maria@example.com", None),
                  groups=("HR Managers",))
    # Grade eight sits under it and is restricted to Maria and Bob: only Maria passes both.
    fake.restrict("HR", "Grade eight", people=("maria@example.com", "bob@example.com"),
                  under="Salary bands")
    await ingest_space(rt, wiki)
    assert await who_reads(rt, SALARY_QUESTION, "104,000") == {"maria", "dave"}
    assert await who_reads(rt, GRADE_EIGHT_QUESTION, "131,000") == {"maria"}
    assert await who_reads(rt, LEAVE_QUESTION, "25 days") == {"maria", "dave", "bob"}

    # The parent's restriction is lifted: at the next listing Bob reads Grade eight too.
    fake.restrict("HR", "Salary bands")
    await ingest_space(rt, wiki)
    assert await who_reads(rt, GRADE_EIGHT_QUESTION, "131,000") == {"maria", "bob"}
    assert await who_reads(rt, SALARY_QUESTION, "104,000") == {"maria", "dave", "bob"}


@pytest.mark.parametrize("edition", ["Data Center", "Cloud"])
async def test_who_may_view_the_space_bounds_every_page_and_restrictions_narrow_it(
    rt: Runtime, wiki, edition: str
):
    """The space is for Erin and the HR Managers group; Bob is in HR Managers in Confluence
    (not in Entra). A page restriction can only narrow the space's audience: someone it names
    reads the page only if the space lets them in too (named, or through a group)."""
    fake, _ = wiki
    if edition == "Cloud":
        fake.email = "bot@example.com"  # basic auth with an API token; the v2 API
    fake.let_view("HR", people=("erin@example.com", None), groups=("HR Managers",))
    fake.memberships["bob@example.com"] = ["HR Managers"]
    fake.restrict("HR", "Grade eight", people=("maria@example.com", "bob@example.com"))
    fake.restrict("HR", "Salary bands", groups=("HR Managers",))
    await ingest_space(rt, wiki)
    asked = {path for _, path in fake.requests}
    assert ("/wiki/api/v2/spaces/9000/permissions" in asked) == (edition == "Cloud")
    assert ("/wiki/rest/api/space/HR/permissions" in asked) == (edition == "Data Center")
    everyone = ("maria", "dave", "bob", "erin")
    # Not restricted: the space's audience (Dave through his Entra group HR Managers).
    assert await who_reads(rt, LEAVE_QUESTION, "25 days", everyone) == {"dave", "erin"}
    # Maria is named on the page but may not view the space; Bob may, through HR Managers.
    assert await who_reads(rt, GRADE_EIGHT_QUESTION, "131,000", everyone) == {"bob"}
    # Erin may view the space, but is not among the HR Managers the page is restricted to.
    assert await who_reads(rt, SALARY_QUESTION, "104,000", everyone) == {"dave"}

    # The space is opened to every licensed user: page restrictions alone decide again.
    fake.let_view("HR", groups=("confluence-users",))
    await ingest_space(rt, wiki)
    assert await who_reads(rt, LEAVE_QUESTION, "25 days", everyone) == set(everyone)
    assert await who_reads(rt, GRADE_EIGHT_QUESTION, "131,000", everyone) == {"maria", "bob"}


async def test_a_space_whose_permissions_cannot_be_read_is_closed_with_a_clear_error(
    rt: Runtime, wiki
):
    fake, _ = wiki
    await ingest_space(rt, wiki)
    assert await who_reads(rt, LEAVE_QUESTION, "25 days") == {"maria", "dave", "bob"}

    fake.space_permissions_refused = True
    with pytest.raises(IngestError, match="Cannot read who may view Confluence space HR"):
        await ingest_space(rt, wiki)
    # Closed, not left open as it was mirrored before.
    assert await who_reads(rt, LEAVE_QUESTION, "25 days") == set()

    fake.space_permissions_refused = False
    await ingest_space(rt, wiki)
    assert await who_reads(rt, LEAVE_QUESTION, "25 days") == {"maria", "dave", "bob"}


async def test_space_permissions_can_be_turned_off_for_old_data_center(
    rt: Runtime, wiki, configured: Settings
):
    """Data Center before 9.1 cannot say who may view a space: with
    CONFLUENCE_SPACE_PERMISSIONS=false the space is not asked, page restrictions still apply,
    and the admin bounds the space with --allow."""
    fake, base = wiki
    fake.space_permissions_refused = True
    fake.restrict("HR", "Grade eight", people=("maria@example.com",))
    cli = configured.model_copy(update={
        "sharepoint_site": None, "confluence_url": base, "confluence_spaces": ("HR",),
        "confluence_token": SecretStr(fake.token), "confluence_space_permissions": False,
    })
    source = sources_for("confluence:HR", cli)[0]
    source.permissions = rt.audiences  # type: ignore[attr-defined]
    try:
        await rt.ingestor.ingest_source(source)
    finally:
        await source.aclose()
    assert not any(p.endswith("/permissions") for _, p in fake.requests)
    assert await who_reads(rt, LEAVE_QUESTION, "25 days") == {"maria", "dave", "bob"}
    assert await who_reads(rt, GRADE_EIGHT_QUESTION, "131,000") == {"maria"}


async def test_the_reingest_job_mirrors_permissions_and_drops_answers_they_no_longer_allow(
    rt: Runtime, graph
):
    """The hourly job lists SharePoint with a place for its permissions, and a changed
    audience (content unchanged) drops cached answers, which might quote the document to
    someone who may no longer read it."""
    fake, _ = graph
    fake.share(SALARIES, user_grant("maria@example.com"))
    cache = MemoryAnswerCache(ttl=3600)
    job = Reingest(
        Ingestor(PgKnowledgeStore(rt.db.pool), chunker=Chunker()),
        pool=rt.db.pool,
        sources=KnowledgeSources(rt.db.pool),
        remote=lambda: [library(graph)],
        answer_cache=WholeCacheInvalidation(cache),
    )
    first = await job()
    assert first.counts["added"] == 2 and await readers(rt) == {"maria"}
    await cache.put("hr", SALARY_QUESTION, CachedAnswer(text="91,000 to 104,000 euros [1]"))
    assert (await job()).counts["changed_documents"] == 0
    assert await cache.get("hr", SALARY_QUESTION) is not None

    fake.share(SALARIES, user_grant("bob@example.com"))
    downloads = len(fake.downloads())
    changed = await job()
    assert changed.counts["changed_documents"] == 1 and len(fake.downloads()) == downloads
    assert await cache.get("hr", SALARY_QUESTION) is None
    assert await readers(rt) == {"bob"}


async def test_permissions_only_lists_confluence_again_and_reads_no_page(
    rt: Runtime, wiki, configured: Settings
):
    """`switchboard ingest --permissions-only`: every configured space is listed again, its
    restrictions applied, and no page body fetched."""
    fake, base = wiki
    fake.restrict("HR", "Grade eight", people=("maria@example.com",))
    await ingest_space(rt, wiki)
    assert await who_reads(rt, GRADE_EIGHT_QUESTION, "131,000") == {"maria"}
    bodies = len(fake.bodies_fetched())

    fake.restrict("HR", "Grade eight", people=("bob@example.com",))
    cli = configured.model_copy(update={
        "sharepoint_site": None, "confluence_url": base, "confluence_spaces": ("HR",),
        "confluence_token": SecretStr(fake.token),
    })
    assert await set_audiences(cli, [], [], permissions_only=True) == 1
    assert len(fake.bodies_fetched()) == bodies
    assert await who_reads(rt, GRADE_EIGHT_QUESTION, "131,000") == {"bob"}


async def test_a_person_granted_by_object_id_is_found_in_the_directory(rt: Runtime, graph):
    """Graph may show a grantee by object id and name only: their email comes from the
    directory; someone the directory does not know is left out."""
    fake, _ = graph
    fake.users["obj-maria"] = "Maria@Example.com"
    fake.share(
        SALARIES,
        {"id": "p1", "roles": ["read"], "grantedToV2": {"user": {"id": "obj-maria",
                                                                 "displayName": "Maria"}}},
        {"id": "p2", "roles": ["read"], "grantedToV2": {"user": {"id": "obj-gone",
                                                                 "displayName": "Bob"}}},
    )
    report = await ingest_library(rt, graph)
    assert report.failed == []
    assert await readers(rt) == {"maria"}
    assert sum(1 for _, path in fake.requests if path == "/v1.0/users/obj-maria") == 1


async def test_graph_ca_file_reaches_the_sharepoint_source_the_settings_build(
    rt: Runtime, graph, configured: Settings, monkeypatch: pytest.MonkeyPatch
):
    """GRAPH_CA_FILE (a TLS-inspecting proxy's authority) is trusted by the SharePoint source
    that `ingest sharepoint`, the hourly job and `--permissions-only` build from settings:
    the fake Graph's certificate is trusted only through it."""
    fake, ca_file = graph
    monkeypatch.setenv("GRAPH_CA_FILE", ca_file)
    assert Settings(_env_file=None).graph_ca_file == Path(ca_file)
    fake.share(SALARIES, user_grant("maria@example.com"))
    assert await mirror_sources(sources_for("sharepoint", configured), rt.audiences) == 0

    source = library(graph)
    source.permissions = rt.audiences
    await rt.ingestor.ingest_source(source)
    await source.aclose()
    fake.share(SALARIES, user_grant("bob@example.com"))
    assert await mirror_sources(sources_for("sharepoint", configured), rt.audiences) == 1
    assert await readers(rt) == {"bob"}

    untrusted = configured.model_copy(update={"graph_ca_file": None})
    with pytest.raises(IngestError):
        await mirror_sources(sources_for("sharepoint", untrusted), rt.audiences)
