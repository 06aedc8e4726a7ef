"""A local Confluence REST API (``/rest/api/content``) for connector tests.

Enforces a bearer token (Data Center personal access token) or basic auth with an email
and API token (Cloud), pages listings with ``start``/``limit`` and ``_links.next``, and
answers the body only when ``expand=body.storage`` is asked for, a page's read restrictions
(``restrictions.read.restrictions.user/group``) and ancestors only when asked for too.

Space view permissions are served as Cloud does (``/api/v2/spaces?keys=``,
``/api/v2/spaces/{id}/permissions`` naming people by account id and groups by id, resolved
through ``/rest/api/user?accountId=`` and ``/rest/api/group/by-id``) and as Data Center does
(``/rest/api/space/{KEY}/permissions``, people by user key). A person's groups:
``/rest/api/user/memberof``. Records every request.
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
    # Who may view each space: people (emails; None: an email the profile hides) and group
    # names. A space not here is viewable by "confluence-users" (every licensed user).
    space_viewers: dict[str, tuple[tuple[str | None, ...], tuple[str, ...]]] = field(
        default_factory=dict
    )
    space_permissions_refused: bool = False
    # Confluence groups each person (email) is in.
    memberships: dict[str, list[str]] = field(default_factory=dict)
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

    def let_view(
        self, space: str, *, people: tuple[str | None, ...] = (), groups: tuple[str, ...] = ()
    ) -> None:
        """Only ``people`` and ``groups`` may view ``space``."""
        self.space_viewers[space] = (people, groups)

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
        app.router.add_get("/wiki/api/v2/spaces", self._spaces)
        app.router.add_get("/wiki/api/v2/spaces/{id}/permissions", self._space_assignments)
        app.router.add_get("/wiki/rest/api/space/{key}/permissions", self._space_permissions)
        app.router.add_get("/wiki/rest/api/user", self._user)
        app.router.add_get("/wiki/rest/api/user/memberof", self._member_of)
        app.router.add_get("/wiki/rest/api/group/by-id", self._group)
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
            users = [self._person(e, n) for n, e in enumerate(page.readers)]
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

    @staticmethod
    def _person(email: str | None, n: int = 0) -> dict[str, Any]:
        if email is None:
            return {"type": "known", "accountId": f"acc-hidden-{n}", "displayName": f"Person {n}"}
        return {"type": "known", "accountId": f"acc-{email}", "username": email.split("@")[0],
                "userKey": f"key-{email}", "displayName": email.split("@")[0], "email": email}

    def _viewers(self, space: str) -> tuple[tuple[str | None, ...], tuple[str, ...]]:
        return self.space_viewers.get(space, ((), ("confluence-users",)))

    def _refused(self) -> web.Response | None:
        if self.space_permissions_refused:
            return web.json_response({"statusCode": 403, "message": "Forbidden"}, status=403)
        return None

    def _space_keys(self) -> list[str]:
        return sorted({p.space for p in self.pages.values()} | set(self.space_viewers))

    async def _spaces(self, request: web.Request) -> web.Response:
        keys = request.query.get("keys", "").split(",")
        return web.json_response({"results": [
            {"id": str(9000 + n), "key": key, "name": key, "type": "global"}
            for n, key in enumerate(self._space_keys()) if key in keys
        ], "_links": {}})

    async def _space_assignments(self, request: web.Request) -> web.Response:
        """Cloud v2: assignments by principal id, one at a time a page (``cursor``)."""
        if (refused := self._refused()) is not None:
            return refused
        keys = self._space_keys()
        n = int(request.match_info["id"]) - 9000
        if not 0 <= n < len(keys):
            return web.json_response({"statusCode": 404}, status=404)
        people, groups = self._viewers(keys[n])
        assignments: list[dict[str, Any]] = [
            {"id": f"a-{n}", "principal": {"type": "group", "id": f"gid-{g}"},
             "operation": {"key": "read", "targetType": "space"}} for g in groups
        ] + [
            {"id": f"u-{i}", "principal": {"type": "user", "id": self._person(e, i)["accountId"]},
             "operation": {"key": "read", "targetType": "space"}} for i, e in enumerate(people)
        ] + [{"id": "admin", "principal": {"type": "group", "id": "gid-site-admins"},
              "operation": {"key": "administer", "targetType": "space"}}]
        at = int(request.query.get("cursor", "0"))
        body: dict[str, Any] = {"results": assignments[at:at + 1], "_links": {}}
        if at + 1 < len(assignments):
            body["_links"]["next"] = f"{request.path}?cursor={at + 1}"
        return web.json_response(body)

    async def _space_permissions(self, request: web.Request) -> web.Response:
        """Data Center 9.1+: one list, groups by name, people by user key."""
        if (refused := self._refused()) is not None:
            return refused
        people, groups = self._viewers(request.match_info["key"])
        read = {"targetType": "space", "operationKey": "read"}
        return web.json_response(
            [{"operation": read, "subject": {"type": "group", "name": g}} for g in groups]
            + [{"operation": read, "subject": {"type": "user",
                                               "userKey": self._person(e, i)["userKey"]
                                               if e else f"key-hidden-{i}"}}
               for i, e in enumerate(people)]
            + [{"operation": {"targetType": "space", "operationKey": "administer"},
                "subject": {"type": "group", "name": "site-admins"}}]
        )

    def _known(self) -> dict[str, str]:
        """Every email the fake knows of."""
        found = {e for p in self.pages.values() for e in p.readers if e}
        found |= {e for people, _ in self.space_viewers.values() for e in people if e}
        return {e: e for e in found | set(self.memberships)}

    async def _user(self, request: web.Request) -> web.Response:
        q = request.query
        for email in self._known():
            person = self._person(email)
            if q.get("accountId") == person["accountId"] or q.get("key") == person["userKey"]:
                return web.json_response(person)
        if q.get("accountId", "").startswith("acc-hidden") or q.get("key", "").startswith("key-hidden"):
            return web.json_response({"type": "known", "displayName": "Hidden"})
        return web.json_response({"statusCode": 404}, status=404)

    async def _member_of(self, request: web.Request) -> web.Response:
        q = request.query
        for email, groups in self.memberships.items():
            person = self._person(email)
            if q.get("accountId") == person["accountId"] or q.get("username") == person["username"]:
                return web.json_response({"results": [
                    {"type": "group", "name": g, "id": f"gid-{g}"} for g in groups
                ], "size": len(groups), "_links": {}})
        return web.json_response({"results": [], "size": 0, "_links": {}})

    async def _group(self, request: web.Request) -> web.Response:
        gid = request.query.get("id", "")
        if not gid.startswith("gid-"):
            return web.json_response({"statusCode": 404}, status=404)
        return web.json_response({"type": "group", "name": gid[4:], "id": gid})

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
