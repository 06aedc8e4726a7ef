"""A local Confluence REST API (``/rest/api/content``) for connector tests.

Enforces a bearer token (Data Center personal access token) or basic auth with an email
and API token (Cloud), pages listings with ``start``/``limit`` and ``_links.next``, and
answers the body only when ``expand=body.storage`` is asked for, a page's read restrictions
(``restrictions.read.restrictions.user/group``) and ancestors only when asked for too.
Records every request.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.services import free_port


@dataclass
class Page:
    id: str
    space: str
    title: str
    body: str
    version: int = 1
    parent: str | None = None  # the page it sits under
    # Its own read restriction: the people (emails; None: an email the profile hides) and
    # groups (names) that may view it; both empty: not restricted.
    readers: list[str | None] = field(default_factory=list)
    reader_groups: list[str] = field(default_factory=list)


@dataclass
class FakeConfluence:
    token: str = "pat-123"
    email: str | None = None  # set: Cloud-style basic auth is required instead of bearer
    pages: dict[str, Page] = field(default_factory=dict)
    page_limit: int = 2  # the server's cap on ``limit``
    fail_status: int | None = None
    garbage: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    base_url: str = ""
    _next_id: int = 1000

    def put(self, space: str, title: str, body: str) -> Page:
        for page in self.pages.values():
            if page.space == space and page.title == title:
                if page.body != body:
                    page.body = body
                    page.version += 1
                return page
        self._next_id += 1
        page = Page(str(self._next_id), space, title, body)
        self.pages[page.id] = page
        return page

    def restrict(
        self, space: str, title: str, *, people: tuple[str | None, ...] = (),
        groups: tuple[str, ...] = (), under: str | None = None,
    ) -> Page:
        """Restrict viewing the page to ``people`` and ``groups`` (none: lift it); ``under``:
        the title of the page it sits under."""
        page = next(p for p in self.pages.values() if p.space == space and p.title == title)
        page.readers, page.reader_groups = list(people), list(groups)
        if under is not None:
            page.parent = next(
                p.id for p in self.pages.values() if p.space == space and p.title == under
            )
        return page

    def delete(self, space: str, title: str) -> None:
        for key, page in list(self.pages.items()):
            if page.space == space and page.title == title:
                del self.pages[key]

    def bodies_fetched(self) -> list[str]:
        return [p.rsplit("/", 1)[1] for _, p in self.requests if p.startswith("/wiki/rest/api/content/")]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/wiki/rest/api/content", self._list)
        app.router.add_get("/wiki/rest/api/content/{id}", self._get)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        header = request.headers.get("Authorization", "")
        if self.email:
            expected = "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        else:
            expected = f"Bearer {self.token}"
        if header != expected:
            return web.json_response(
                {"statusCode": 401, "message": "Unauthorized; scope does not match"}, status=401
            )
        if self.fail_status is not None:
            return web.json_response({"statusCode": self.fail_status}, status=self.fail_status)
        if self.garbage:
            return web.Response(text="<html><body>Log in</body></html>", content_type="text/html")
        return await handler(request)

    def _summary(self, page: Page, expand: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": page.id,
            "type": "page",
            "status": "current",
            "title": page.title,
            "_links": {"webui": f"/spaces/{page.space}/pages/{page.id}/{page.title.replace(' ', '+')}"},
        }
        if "version" in expand:
            data["version"] = {"number": page.version, "when": "2025-01-01T00:00:00.000Z"}
        if "restrictions.read" in expand:
            users = [
                {"type": "known", "accountId": f"acc-{n}", "displayName": f"Person {n}",
                 **({"email": e} if e else {})}
                for n, e in enumerate(page.readers)
            ]
            groups = [{"type": "group", "name": g, "id": f"gid-{g}"} for g in page.reader_groups]
            data["restrictions"] = {"read": {
                "operation": "read",
                "restrictions": {
                    "user": {"results": users, "start": 0, "limit": 200, "size": len(users)},
                    "group": {"results": groups, "start": 0, "limit": 200, "size": len(groups)},
                },
            }}
        if "ancestors" in expand:
            chain: list[dict[str, Any]] = []
            parent = page.parent
            while parent is not None:
                chain.insert(0, {"id": parent, "type": "page", "title": self.pages[parent].title})
                parent = self.pages[parent].parent
            data["ancestors"] = chain
        if "body.storage" in expand:
            data["body"] = {"storage": {"value": page.body, "representation": "storage"}}
        return data

    async def _list(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("type") != "page":
            return web.json_response({"statusCode": 400, "message": "type is required"}, status=400)
        space = q.get("spaceKey")
        start = int(q.get("start", "0"))
        limit = min(int(q.get("limit", "25")), self.page_limit)
        pages = sorted((p for p in self.pages.values() if p.space == space), key=lambda p: p.id)
        chunk = pages[start:start + limit]
        links: dict[str, str] = {"base": f"{self.base_url}/wiki", "context": "/wiki"}
        if start + limit < len(pages):
            links["next"] = f"/rest/api/content?spaceKey={space}&type=page&start={start + limit}"
        return web.json_response(
            {
                "results": [self._summary(p, q.get("expand", "")) for p in chunk],
                "start": start,
                "limit": limit,
                "size": len(chunk),
                "_links": links,
            }
        )

    async def _get(self, request: web.Request) -> web.Response:
        page = self.pages.get(request.match_info["id"])
        if page is None:
            return web.json_response({"statusCode": 404}, status=404)
        return web.json_response(self._summary(page, request.query.get("expand", "")))


@asynccontextmanager
async def running(fake: FakeConfluence) -> AsyncIterator[str]:
    """Serve ``fake`` on 127.0.0.1; yields the wiki's base url."""
    port = free_port()
    fake.base_url = f"http://127.0.0.1:{port}"
    runner = web.AppRunner(fake.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"{fake.base_url}/wiki"
    finally:
        await runner.cleanup()
