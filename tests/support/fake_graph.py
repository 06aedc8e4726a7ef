"""A local Microsoft Graph (sites, drives, children, content) and Entra token endpoint.

Served over HTTPS with a throwaway self-signed certificate, because msal accepts only https
authorities. It enforces what the real services do: the client-credentials grant needs the
right client id and secret, every Graph call needs a bearer token the fake issued, listings
page through ``@odata.nextLink``, and ``/content`` answers 302 to a pre-authenticated
download address. It records every request so tests can see what was (not) downloaded.

It also plays the site's SharePoint REST API for site group members
(``{site}/_api/web/sitegroups/GetById(n)/users``), which, like SharePoint Online, accepts only
tokens the app got by signing in with its certificate (a signed client assertion the fake
checks against ``app_certificate``), never with its secret.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.services import free_port


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, written as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fake-cert.pem", folder / "fake-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def app_certificate(folder: Path) -> Path:
    """An RSA key and a self-signed certificate for the app's sign-in, in one PEM file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "switchboard-app")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = folder / "app-cert.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


@dataclass
class DriveFile:
    id: str
    content: bytes
    ctag: str


@dataclass
class FakeGraph:
    """State of one tenant with one site and its document libraries."""

    tenant_id: str = "contoso-tenant"
    client_id: str = "switchboard-app"
    client_secret: str = "s3cret"
    hostname: str = "contoso.sharepoint.com"
    site_path: str = "/sites/People"
    site_id: str = "contoso.sharepoint.com,1111,2222"
    drives: dict[str, str] = field(default_factory=lambda: {"drive-docs": "Documents"})
    # drive id -> path ("Policies/HR/leave.md") -> file
    files: dict[str, dict[str, DriveFile]] = field(default_factory=dict)
    page_size: int = 2
    fail_status: int | None = None  # every Graph call answers this status
    garbage: bool = False  # Graph listings answer HTML instead of JSON
    # Entra groups: group id -> display name, and user (object id or UPN) -> the group ids
    # they belong to directly; nesting: group id -> the group ids it belongs to.
    groups: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    nested: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    # Set: group-membership lookups wait for it (a lookup in flight, held open by a test).
    memberships_gate: asyncio.Event | None = None
    # The certificate registered on the app (PEM path; its public key checks assertions), and
    # the site's groups: number -> (name, members as SharePoint lists them).
    app_certificate: Path | None = None
    site_groups: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)
    site_groups_refused: bool = False
    sharepoint_tokens: set[str] = field(default_factory=set)
    # Item id -> its effective permissions as Graph lists them; an item not here is shared
    # with the whole organisation by a view link. Item ids whose permissions answer 403.
    permissions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    permissions_refused: bool = False
    # The directory: a user's object id -> their mail (``GET /users/{id}``).
    users: dict[str, str] = field(default_factory=dict)
    base_url: str = ""

    def put(self, path: str, content: bytes | str, *, drive: str = "drive-docs") -> None:
        data = content.encode() if isinstance(content, str) else content
        files = self.files.setdefault(drive, {})
        old = files.get(path)
        item_id = old.id if old else "item-" + hashlib.sha1(path.encode()).hexdigest()[:10]
        ctag = '"c:{' + item_id + "}," + hashlib.sha1(data).hexdigest()[:8] + '"'
        files[path] = DriveFile(item_id, data, ctag)

    def share(self, path: str, *permissions: dict[str, Any], drive: str = "drive-docs") -> None:
        """Set the effective permissions of the file at ``path`` (see the builders below)."""
        self.permissions[self.files[drive][path].id] = list(permissions)

    def delete(self, path: str, *, drive: str = "drive-docs") -> None:
        del self.files[drive][path]

    def downloads(self) -> list[str]:
        return [p for m, p in self.requests if p.endswith("/content")]

    # -- the app ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        t = "/{tenant}"
        app.router.add_get(t + "/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post(t + "/oauth2/v2.0/token", self._token)
        app.router.add_get("/v1.0/sites/{site:.+}", self._sites)
        app.router.add_get("/v1.0/drives/{drive}/root/children", self._root_children)
        app.router.add_get("/v1.0/drives/{drive}/root:{path:.+}:/children", self._path_children)
        app.router.add_get("/v1.0/drives/{drive}/items/{item}/children", self._item_children)
        app.router.add_get("/v1.0/drives/{drive}/items/{item}/content", self._content)
        app.router.add_get("/download/{drive}/{item}", self._download)
        app.router.add_get("/v1.0/drives/{drive}/items/{item}/permissions", self._permissions)
        app.router.add_get("/v1.0/users/{who}", self._user)
        app.router.add_get(self.site_path + "/_api/web/sitegroups/{call}/users", self._site_group)
        app.router.add_get(
            "/v1.0/users/{who}/transitiveMemberOf/microsoft.graph.group", self._member_of
        )
        app.middlewares.append(self._record)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        return await handler(request)

    async def _openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant != self.tenant_id:
            return web.json_response({"error": "invalid_tenant"}, status=400)
        base = f"{self.base_url}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{self.base_url}/{tenant}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            }
        )

    def _assertion_valid(self, request: web.Request, assertion: str) -> bool:
        import jwt
        from cryptography import x509

        if self.app_certificate is None:
            return False
        cert = x509.load_pem_x509_certificate(self.app_certificate.read_bytes())
        try:
            claims = jwt.decode(
                assertion, cert.public_key(), algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                audience=f"{self.base_url}{request.path}",
            )
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == self.client_id and claims.get("sub") == self.client_id

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        sharepoint = f"{self.base_url}/.default"
        if form.get("scope") not in ("https://graph.microsoft.com/.default", sharepoint):
            return web.json_response({"error": "invalid_scope"}, status=400)
        assertion = form.get("client_assertion")
        if isinstance(assertion, str) and form.get("client_id") == self.client_id:
            if not self._assertion_valid(request, assertion):
                return web.json_response(
                    {"error": "invalid_client",
                     "error_description": "AADSTS700027: Client assertion failed signature validation."},
                    status=401,
                )
            token = uuid.uuid4().hex
            (self.sharepoint_tokens if form.get("scope") == sharepoint else self.tokens).add(token)
            return web.json_response(
                {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
            )
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
                status=401,
            )
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        )

    def _refuse(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return web.json_response(
                {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}},
                status=401,
            )
        if self.fail_status is not None:
            return web.json_response(
                {"error": {"code": "generalException", "message": "fake failure"}},
                status=self.fail_status,
            )
        return None

    def join(self, who: str, *names: str) -> None:
        """Put ``who`` (object id or UPN) in groups named ``names`` (made as needed)."""
        for name in names:
            group_id = next((i for i, n in self.groups.items() if n == name), None)
            if group_id is None:
                group_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
                self.groups[group_id] = name
            self.members.setdefault(who.lower(), []).append(group_id)

    async def _member_of(self, request: web.Request) -> web.Response:
        """Transitive memberships, paged like Graph (``page_size`` a page)."""
        if (refused := self._refuse(request)) is not None:
            return refused
        if self.memberships_gate is not None:
            await self.memberships_gate.wait()
        who = request.match_info["who"].lower()
        found: list[str] = []
        todo = list(self.members.get(who, ()))
        while todo:
            group_id = todo.pop()
            if group_id not in found:
                found.append(group_id)
                todo.extend(self.nested.get(group_id, ()))
        start = int(request.query.get("$skiptoken", "0"))
        page = found[start:start + self.page_size]
        body: dict[str, Any] = {
            "value": [
                {"@odata.type": "#microsoft.graph.group", "id": g, "displayName": self.groups[g]}
                for g in page
            ]
        }
        if start + self.page_size < len(found):
            body["@odata.nextLink"] = (
                f"{self.base_url}{request.path}?$skiptoken={start + self.page_size}"
            )
        return web.json_response(body)

    async def _sites(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        site = request.match_info["site"]
        by_path = f"{self.hostname}:{self.site_path}"
        # The site's address is this fake, which also plays its SharePoint REST API.
        info = {"id": self.site_id, "webUrl": f"{self.base_url}{self.site_path}"}
        if site in (by_path, self.site_id):
            return web.json_response(info)
        if site in (f"{by_path}/drives", f"{self.site_id}/drives"):
            return web.json_response(
                {"value": [{"id": i, "name": n, "driveType": "documentLibrary"}
                           for i, n in self.drives.items()]}
            )
        if site in (f"{by_path}/drive", f"{self.site_id}/drive"):
            first = next(iter(self.drives))
            return web.json_response({"id": first, "name": self.drives[first]})
        return web.json_response({"error": {"code": "itemNotFound"}}, status=404)

    def _children(self, request: web.Request, drive: str, folder: str) -> web.Response:
        if self.garbage:
            return web.Response(text="<html>Service unavailable</html>", content_type="text/html")
        if drive not in self.drives:
            return web.json_response({"error": {"code": "itemNotFound"}}, status=404)
        folder = folder.strip("/")
        entries: dict[str, dict[str, Any]] = {}
        for path, item in sorted(self.files.get(drive, {}).items()):
            parent, _, name = path.rpartition("/")
            if parent == folder:
                entries[name] = {
                    "id": item.id,
                    "name": name,
                    "file": {"mimeType": "application/octet-stream"},
                    "cTag": item.ctag,
                    "eTag": item.ctag.replace("c:", ""),
                    "size": len(item.content),
                    "webUrl": f"https://{self.hostname}{self.site_path}/Shared%20Documents/{path}",
                    "lastModifiedDateTime": "2025-01-01T00:00:00Z",
                }
            elif (folder == "" or path.startswith(folder + "/")) and "/" in path[len(folder):].strip("/"):
                rest = path[len(folder):].strip("/")
                sub = rest.split("/", 1)[0]
                full = f"{folder}/{sub}".strip("/")
                entries.setdefault(sub, {"id": "folder-" + full.replace("/", "~"), "name": sub,
                                         "folder": {"childCount": 1}})
        values = list(entries.values())
        start = int(request.query.get("$skiptoken", "0"))
        top = min(int(request.query.get("$top", "200")), self.page_size)
        page: dict[str, Any] = {"value": values[start:start + top]}
        if start + top < len(values):
            page["@odata.nextLink"] = (
                f"{self.base_url}{request.path}?$skiptoken={start + top}&$top={top}"
            )
        return web.json_response(page)

    async def _root_children(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        return self._children(request, request.match_info["drive"], "")

    async def _path_children(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        return self._children(request, request.match_info["drive"], request.match_info["path"])

    async def _item_children(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        item = request.match_info["item"]
        if not item.startswith("folder-"):
            return web.json_response({"error": {"code": "itemNotFound"}}, status=404)
        return self._children(request, request.match_info["drive"], item[7:].replace("~", "/"))

    async def _content(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        drive, item = request.match_info["drive"], request.match_info["item"]
        if not any(f.id == item for f in self.files.get(drive, {}).values()):
            return web.json_response({"error": {"code": "itemNotFound"}}, status=404)
        raise web.HTTPFound(f"{self.base_url}/download/{drive}/{item}?tempauth=signed")

    async def _user(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        mail = self.users.get(request.match_info["who"])
        if mail is None:
            return web.json_response({"error": {"code": "Request_ResourceNotFound"}}, status=404)
        return web.json_response({"mail": mail, "userPrincipalName": mail})

    async def _site_group(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.sharepoint_tokens:
            # SharePoint Online turns away app tokens got with a client secret.
            return web.json_response(
                {"error_description": "Unsupported app only token."}, status=401
            )
        if self.site_groups_refused:
            return web.json_response({"odata.error": {"code": "-2147024891"}}, status=403)
        call = request.match_info["call"]
        group_id = call.removeprefix("GetById(").removesuffix(")")
        if group_id not in self.site_groups or not call.startswith("GetById("):
            return web.json_response({"odata.error": {"code": "-2146232832"}}, status=404)
        if "odata=nometadata" not in request.headers.get("Accept", ""):
            return web.Response(text="<feed/>", content_type="application/atom+xml")
        _, members = self.site_groups[group_id]
        return web.json_response({"value": members})

    async def _permissions(self, request: web.Request) -> web.Response:
        """An item's effective permissions, paged like Graph (``page_size`` a page)."""
        if (refused := self._refuse(request)) is not None:
            return refused
        if self.permissions_refused:
            return web.json_response(
                {"error": {"code": "accessDenied", "message": "Access denied"}}, status=403
            )
        drive, item = request.match_info["drive"], request.match_info["item"]
        if not any(f.id == item for f in self.files.get(drive, {}).values()):
            return web.json_response({"error": {"code": "itemNotFound"}}, status=404)
        granted = self.permissions.get(item, [organization_link()])
        start = int(request.query.get("$skiptoken", "0"))
        body: dict[str, Any] = {"value": granted[start:start + self.page_size]}
        if start + self.page_size < len(granted):
            body["@odata.nextLink"] = (
                f"{self.base_url}{request.path}?$skiptoken={start + self.page_size}"
            )
        return web.json_response(body)

    async def _download(self, request: web.Request) -> web.Response:
        # Pre-authenticated: a bearer token must not be needed (nor sent) here.
        if request.query.get("tempauth") != "signed" or "Authorization" in request.headers:
            return web.Response(status=401)
        drive, item = request.match_info["drive"], request.match_info["item"]
        for file in self.files.get(drive, {}).values():
            if file.id == item:
                return web.Response(body=file.content, content_type="application/octet-stream")
        return web.Response(status=404)


@asynccontextmanager
async def running(fake: FakeGraph, folder: Path) -> AsyncIterator[str]:
    """Serve ``fake`` over HTTPS on 127.0.0.1; yields the CA file that trusts it."""
    cert, key = self_signed_certificate(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    port = free_port()
    fake.base_url = f"https://127.0.0.1:{port}"
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=context)
    await site.start()
    try:
        yield str(cert)
    finally:
        await runner.cleanup()


# -- permissions as Graph lists them (driveItem permissions, v1.0) ------------------------


def organization_link(permission_id: str = "link-org") -> dict[str, Any]:
    return {"id": permission_id, "roles": ["read"],
            "link": {"scope": "organization", "type": "view"}}


def people_link(*emails: str, permission_id: str = "link-people") -> dict[str, Any]:
    return {
        "id": permission_id, "roles": ["read"], "link": {"scope": "users", "type": "view"},
        "grantedToIdentitiesV2": [
            {"user": {"id": f"id-{e}", "displayName": e.split("@")[0], "email": e}}
            for e in emails
        ],
    }


def user_grant(email: str, *, inherited: bool = False, role: str = "read") -> dict[str, Any]:
    grant: dict[str, Any] = {
        "id": f"grant-{email}", "roles": [role],
        "grantedToV2": {"user": {"id": f"id-{email}", "displayName": email, "email": email}},
    }
    if inherited:
        grant["inheritedFrom"] = {"driveId": "drive-docs", "id": "folder"}
    return grant


def group_grant(group_id: str, name: str, *, inherited: bool = True) -> dict[str, Any]:
    grant: dict[str, Any] = {
        "id": f"grant-{group_id}", "roles": ["read"],
        "grantedToV2": {"group": {"id": group_id, "displayName": name}},
    }
    if inherited:
        grant["inheritedFrom"] = {"driveId": "drive-docs", "id": "folder"}
    return grant


def site_group_grant(name: str, group_id: str = "5") -> dict[str, Any]:
    return {"id": f"grant-site-{name}", "roles": ["write"],
            "grantedToV2": {"siteGroup": {"id": group_id, "displayName": name, "loginName": name}},
            "inheritedFrom": {"driveId": "drive-docs", "id": "root"}}


# -- site group members as SharePoint's REST API lists them --------------------------------


def site_user(email: str) -> dict[str, Any]:
    return {"Id": 11, "Title": email.split("@")[0], "Email": email, "PrincipalType": 1,
            "LoginName": f"i:0#.f|membership|{email}"}


def site_entra_group(group_id: str, name: str) -> dict[str, Any]:
    return {"Id": 12, "Title": name, "Email": "", "PrincipalType": 4,
            "LoginName": f"c:0t.c|tenant|{group_id}"}


def site_m365_group(group_id: str, name: str, *, owners: bool = False) -> dict[str, Any]:
    return {"Id": 13, "Title": name + (" Owners" if owners else " Members"), "Email": "",
            "PrincipalType": 4,
            "LoginName": f"c:0o.c|federateddirectoryclaimprovider|{group_id}"
            + ("_o" if owners else "")}


def site_everyone() -> dict[str, Any]:
    return {"Id": 14, "Title": "Everyone except external users", "Email": "", "PrincipalType": 4,
            "LoginName": "c:0-.f|rolemanager|spo-grid-all-users/contoso-tenant"}
