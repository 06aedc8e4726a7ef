"""Web pages from a local web server, into real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bots.runtime import Runtime
from core.ingest.connectors.web import WebPages
from tests.core.ingest.helpers import everything, indexed
from tests.support.services import free_port

GUIDE = """<html><head><title>Printer guide</title></head><body>
<nav>Home | Printers | Contact</nav><script>track()</script>
<main><h1>Printers</h1><p>Badge in at any <b>FollowMe</b> printer to release your job.</p>
<h2>Errors</h2><p>Error E-17 means the tray is empty.</p></main>
<footer>© Intranet</footer></body></html>"""


@pytest.fixture
async def site() -> AsyncIterator[tuple[dict[str, tuple[int, str, bytes]], str]]:
    pages: dict[str, tuple[int, str, bytes]] = {
        "/it/printers": (200, "text/html; charset=utf-8", GUIDE.encode()),
        "/it/wifi.txt": (200, "text/plain", b"Guest Wi-Fi\n\nThe guest network is Visitors."),
    }
    served: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        served.append(request.path)
        if request.path == "/old-printers":
            raise web.HTTPMovedPermanently("/it/printers")
        if request.path.startswith("/go/"):  # an open redirect to whatever follows /go/
            raise web.HTTPFound(request.path_qs[len("/go/"):])
        status, kind, body = pages.get(request.path, (404, "text/html", b"<p>Not found</p>"))
        return web.Response(status=status, body=body, headers={"Content-Type": kind})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield pages, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def ingest(runtime: Runtime, *urls: str, allowed: tuple[str, ...] = ("127.0.0.1",)):
    # The test's web server listens on loopback, which ingest refuses unless allowed.
    source = WebPages(urls, allowed_hosts=allowed)
    try:
        return await runtime.ingestor.ingest_source(source)
    finally:
        await source.aclose()


async def test_page_is_read_as_text_with_its_address_as_the_link(runtime: Runtime, site):
    _pages, base = site
    report = await ingest(runtime, f"{base}/it/printers#top", f"{base}/it/wifi.txt")

    assert report.failed == [] and report.added == 2
    docs = await indexed(runtime, "web")
    title, url, text = docs[f"{base}/it/printers"]
    assert (title, url) == ("Printer guide", f"{base}/it/printers")
    assert "Badge in at any FollowMe printer" in text and "E-17" in text
    assert "track()" not in text and "Contact" not in text and "Intranet" not in text
    assert docs[f"{base}/it/wifi.txt"][0] == "Guest Wi-Fi"


async def test_redirected_page_cites_where_it_landed(runtime: Runtime, site):
    _, base = site
    await ingest(runtime, f"{base}/old-printers")
    (_title, url, _), = (await indexed(runtime, "web")).values()
    assert url == f"{base}/it/printers"


async def test_unchanged_page_is_skipped_and_changed_page_replaced(runtime: Runtime, site):
    pages, base = site
    await ingest(runtime, f"{base}/it/printers")
    before = await everything(runtime)

    again = await ingest(runtime, f"{base}/it/printers")
    assert (again.unchanged, again.updated) == (1, 0)
    assert await everything(runtime) == before

    pages["/it/printers"] = (200, "text/html", GUIDE.replace("E-17", "E-18").encode())
    report = await ingest(runtime, f"{base}/it/printers")
    assert report.updated == 1
    assert "E-18" in (await indexed(runtime, "web"))[f"{base}/it/printers"][2]


async def test_page_that_is_gone_is_removed(runtime: Runtime, site):
    pages, base = site
    await ingest(runtime, f"{base}/it/printers", f"{base}/it/wifi.txt")
    del pages["/it/wifi.txt"]

    report = await ingest(runtime, f"{base}/it/printers", f"{base}/it/wifi.txt")

    assert report.removed == 1 and report.failed == []
    assert list(await indexed(runtime, "web")) == [f"{base}/it/printers"]


@pytest.mark.parametrize(
    ("status", "kind", "body", "message"),
    [
        (500, "text/html", b"oops", "failed with HTTP 500"),
        (401, "text/html", b"login", "refused the credentials (HTTP 401)"),
        (200, "image/png", b"\x89PNG", "image/png, not a kind I can read"),
    ],
)
async def test_failing_page_keeps_its_indexed_version(runtime: Runtime, site, status, kind, body, message):
    pages, base = site
    await ingest(runtime, f"{base}/it/printers")
    before = await everything(runtime)
    pages["/it/printers"] = (status, kind, body)

    report = await ingest(runtime, f"{base}/it/printers")

    assert len(report.failed) == 1 and message in report.failed[0][1]
    assert report.removed == 0
    assert await everything(runtime) == before


async def test_address_that_never_existed_is_reported(runtime: Runtime, site):
    _, base = site
    report = await ingest(runtime, f"{base}/no/such/page")
    assert report.added == 0 and "was not found (404)" in report.failed[0][1]


async def test_page_inside_the_network_is_refused_unless_an_operator_allows_it(
    runtime: Runtime, site
):
    _, base = site
    report = await ingest(runtime, f"{base}/it/printers", allowed=())

    assert report.added == 0
    assert "inside the company network; ask an operator to allow it" in report.failed[0][1]
    assert await indexed(runtime, "web") == {}


async def test_name_that_resolves_inside_the_network_is_refused(runtime: Runtime, site):
    # "localhost" is a name, not an address: the check is on what it resolves to.
    _, base = site
    report = await ingest(runtime, base.replace("127.0.0.1", "localhost") + "/it/printers", allowed=())
    assert report.added == 0 and "inside the company network" in report.failed[0][1]


async def test_redirect_into_the_network_is_refused(runtime: Runtime, site):
    # The operator allows the host by name; a redirect to its loopback address is another host.
    _, base = site
    named = base.replace("127.0.0.1", "localhost")
    report = await ingest(runtime, f"{named}/go/{base}/it/printers", allowed=("localhost",))
    assert report.added == 0 and "inside the company network" in report.failed[0][1]
    # Where the redirect stays on the allowed name, the page is read.
    fine = await ingest(runtime, f"{named}/go/{named}/it/printers", allowed=("localhost",))
    assert fine.added == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata address
        "http://10.0.0.8/admin",
        "http://[::1]:9/metrics",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ],
)
async def test_internal_addresses_are_refused(runtime: Runtime, url):
    report = await ingest(runtime, url, allowed=())
    assert report.added == 0 and "inside the company network" in report.failed[0][1]


async def test_allowed_network_admits_its_addresses(runtime: Runtime, site):
    _, base = site
    report = await ingest(runtime, f"{base}/it/wifi.txt", allowed=("127.0.0.0/8",))
    assert report.added == 1
