"""SharePoint and OneDrive document libraries through Microsoft Graph, with an app token.

The app (an Entra app registration with the ``Sites.Read.All`` or ``Files.Read.All``
application permission) signs in with msal's client-credentials flow. A folder is listed
recursively; each file's ``cTag`` (which changes only when its content does) decides whether
it is downloaded again. Office files are downloaded converted to PDF by Graph, so their page
numbers are kept.

Every listing also reads each file's permissions (the same application permission suffices)
and records who may read it (``sharepoint_permissions``; fail closed: a file whose permissions
cannot be read is readable by no one here until the next listing reads them). With a
certificate (``cert_file``) the members of the SharePoint site groups that grant access are
read from SharePoint's REST API (``sharepoint_groups``); without one, or when they cannot be
read, the listing notes which groups stand for the source's ``--allow`` audience.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from core.errors import SourceUnavailable
from core.ingest.connectors.base import RemoteItem, get_json, request
from core.ingest.connectors.graph_token import GraphAppToken
from core.ingest.connectors.permissions import (
    NO_ONE,
    Mirrored,
    PermissionSink,
    record,
    require,
)
from core.ingest.connectors.sharepoint_groups import (
    SiteGroupMembers,
    certificate_credential,
    resource_of,
)
from core.ingest.connectors.sharepoint_permissions import readers, site_groups, unnamed_users
from core.ingest.documents import LoadedDocument
from core.ingest.loaders import LOADERS, load_bytes

log = structlog.get_logger(__name__)

_SELECT = "id,name,file,folder,eTag,cTag,lastModifiedDateTime,webUrl,size"
# Graph converts these to PDF on download (``?format=pdf``).
_CONVERTIBLE = frozenset({".docx", ".doc", ".pptx", ".ppt", ".odt", ".odp", ".rtf", ".xlsx"})
_HINT = (
    "Check SHAREPOINT_TENANT_ID, SHAREPOINT_CLIENT_ID and SHAREPOINT_CLIENT_SECRET, and that the "
    "app has the Sites.Read.All application permission with admin consent."
)
_MAX_FILES = 20_000
# Permission reads in flight: Graph throttles per app and tenant; a few at once list a large
# library in minutes without tripping it.
_PERMISSION_READS = 8


class SharePointLibrary:
    """One folder (and its subfolders) of a SharePoint document library or a OneDrive.

    ``site`` is ``host:/sites/Name`` or a site id; ``users/alice@contoso.com`` names that
    user's OneDrive instead. ``drive`` is the library's name (default: the site's default
    library). ``ca_file`` trusts an extra certificate authority (a TLS-inspecting proxy).
    ``cert_file``: a PEM file with the app's private key and certificate, to list the members
    of SharePoint site groups.
    """

    kind = "sharepoint"

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        site: str,
        drive: str | None = None,
        folder: str = "/",
        domain: str | None = None,
        graph_url: str = "https://graph.microsoft.com/v1.0",
        authority_host: str = "https://login.microsoftonline.com",
        timeout: float = 30.0,
        ca_file: str | None = None,
        cert_file: str | None = None,
    ) -> None:
        self._site = site.strip("/")
        self._sign_in = {
            "tenant_id": tenant_id, "client_id": client_id, "client_secret": client_secret,
            "authority_host": authority_host, "timeout": timeout, "ca_file": ca_file,
        }
        self._certificate = certificate_credential(Path(cert_file)) if cert_file else None
        self._site_groups: SiteGroupMembers | None = None
        # What the last listing could not fully say (the ingest report shows it), and the site
        # groups whose members it could not list: name -> the files they grant.
        self.notes: list[str] = []
        self._unlisted: dict[str, set[str]] = {}
        self._drive_name = drive
        self._folder = "/" + folder.strip("/") if folder.strip("/") else "/"
        self._domain = domain
        self._graph = graph_url.rstrip("/")
        self._token = GraphAppToken(
            tenant_id=tenant_id, client_id=client_id, client_secret=client_secret,
            authority_host=authority_host, timeout=timeout, ca_file=ca_file, hint=_HINT,
        ).get
        context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            connector=aiohttp.TCPConnector(ssl=context) if context else None,
        )
        self._drive_id: str | None = None
        self.scope: str | None = None
        self.gone: list[str] = []
        self.failed: list[tuple[str, str]] = []
        # Where each listing records who may read each file (``permissions.mirror_into``).
        self.permissions: PermissionSink | None = None
        self._emails: dict[str, asyncio.Future[str | None]] = {}

    async def _get(
        self, url: str, what: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {await self._token()}"}
        return await get_json(
            self._session, url, what=what, hint=_HINT, headers=headers, params=params
        )

    async def _drive_base(self) -> str:
        if self._site.startswith("users/"):
            drive = await self._get(f"{self._graph}/{self._site}/drive", "Graph (OneDrive)")
        else:
            site_path = self._site if "," in self._site else quote(self._site, safe=":/")
            site = await self._get(
                f"{self._graph}/sites/{site_path}", f"SharePoint site {self._site}"
            )
            site_id = _field(site, "id", "site")
            self._site_groups_of(site.get("webUrl"))
            if self._drive_name:
                drives = await self._get(
                    f"{self._graph}/sites/{site_id}/drives", f"SharePoint site {self._site}"
                )
                listed = _values(drives, "drives")
                matches = [d for d in listed if d.get("name") == self._drive_name]
                if not matches:
                    names = ", ".join(str(d.get("name")) for d in listed)
                    raise SourceUnavailable(
                        f"SharePoint site {self._site} has no library named {self._drive_name!r} "
                        f"(it has: {names or 'none'}).",
                        status=404,
                    )
                drive = matches[0]
            else:
                drive = await self._get(
                    f"{self._graph}/sites/{site_id}/drive", f"SharePoint site {self._site}"
                )
        self._drive_id = _field(drive, "id", "drive")
        self.scope = f"sharepoint:{self._drive_id}:{self._folder}:"
        return f"{self._graph}/drives/{self._drive_id}"

    def _site_groups_of(self, site_url: object) -> None:
        if self._certificate is None or not isinstance(site_url, str) or not site_url:
            return
        if self._site_groups is None:
            token = GraphAppToken(
                **self._sign_in,  # type: ignore[arg-type]
                certificate=self._certificate, scope=resource_of(site_url),
                hint="Check SHAREPOINT_CERT_FILE: its certificate must be registered on the app, "
                "which needs the SharePoint Sites.Read.All application permission.",
            ).get
            self._site_groups = SiteGroupMembers(self._session, site_url, token)
        self._site_groups.reset()

    async def list(self) -> list[RemoteItem]:
        require(self.permissions, f"SharePoint {self._folder}")
        self.notes = []
        self._unlisted = {}
        base = await self._drive_base()
        if self._folder == "/":
            start = f"{base}/root/children"
        else:
            start = f"{base}/root:{quote(self._folder)}:/children"
        items: list[RemoteItem] = []
        folders: list[tuple[str, str]] = [(start, "")]
        while folders:
            url, prefix = folders.pop()
            params: dict[str, str] | None = {"$select": _SELECT, "$top": "200"}
            while url:
                page = await self._get(url, f"Graph listing of {self._folder}", params)
                params = None  # the next link carries them
                for entry in _values(page, "folder listing"):
                    name = str(entry.get("name") or "")
                    item_id = str(entry.get("id") or "")
                    if not name or not item_id:
                        raise SourceUnavailable(
                            "Graph listed an item without a name or id; nothing was changed."
                        )
                    if "folder" in entry:
                        folders.append((f"{base}/items/{item_id}/children", f"{prefix}{name}/"))
                        continue
                    if "file" not in entry or not _readable(name):
                        continue
                    # cTag changes with the content only; the others also with metadata.
                    version = (
                        entry.get("cTag") or entry.get("eTag") or entry.get("lastModifiedDateTime")
                    )
                    items.append(
                        RemoteItem(
                            uri=f"{self.scope}{item_id}",
                            name=prefix + name,
                            version=str(version) if version else None,
                            url=entry.get("webUrl"),
                        )
                    )
                    if len(items) > _MAX_FILES:
                        raise SourceUnavailable(f"{self._folder} holds over {_MAX_FILES} files.")
                next_link = page.get("@odata.nextLink")
                url = str(next_link) if next_link else ""
        assert self.scope is not None
        self._emails = {}
        found = await self._readers(base, items)
        await record(self.permissions, self.scope, found, f"SharePoint {self._folder}")
        if self._unlisted:
            names = ", ".join(sorted(self._unlisted))
            files = len(set().union(*self._unlisted.values()))
            why = (
                "could not be read from SharePoint" if self._site_groups is not None
                else "cannot be listed through Graph (set SHAREPOINT_CERT_FILE to read them)"
            )
            self.notes.append(
                f"{files} file(s) in {self._folder} are shared through SharePoint site groups "
                f"({names}) whose members {why}: for those groups the audience set on this "
                "source with --allow stands in, or no one when none is set."
            )
        return items

    async def _readers(self, base: str, items: list[RemoteItem]) -> dict[str, Mirrored]:
        lanes = asyncio.Semaphore(_PERMISSION_READS)

        async def one(item: RemoteItem) -> tuple[str, Mirrored]:
            async with lanes:
                return item.uri, await self._item_readers(base, item)

        return dict(await asyncio.gather(*(one(item) for item in items)))

    async def _email_of(self, user_id: str) -> str | None:
        """A person's email from the directory (once per listing); None when it has none or
        cannot be read (the grant is then left out: narrower, never wider)."""
        if user_id not in self._emails:
            self._emails[user_id] = asyncio.ensure_future(self._lookup_email(user_id))
        return await self._emails[user_id]

    async def _lookup_email(self, user_id: str) -> str | None:
        try:
            user = await self._get(
                f"{self._graph}/users/{quote(user_id)}", "Graph user lookup",
                {"$select": "mail,userPrincipalName"},
            )
        except SourceUnavailable as exc:
            log.warning("sharepoint_user_unknown", user=user_id, error=str(exc))
            return None
        email = user.get("mail") or user.get("userPrincipalName")
        return str(email) if isinstance(email, str) and "@" in email else None

    async def _item_readers(self, base: str, item: RemoteItem) -> Mirrored:
        item_id = item.uri.rsplit(":", 1)[1]
        url = f"{base}/items/{item_id}/permissions"
        granted: list[Any] = []
        try:
            while url:
                page = await self._get(url, f"Graph permissions of {item.name}")
                granted.extend(_values(page, "permission list"))
                url = str(page.get("@odata.nextLink") or "")
        except SourceUnavailable as exc:
            if exc.status in (401, 403):
                raise  # the app may not read permissions at all: nothing is changed
            why = f"{exc} No one can read it here until its permissions are read again."
            self.failed.append((item.url or item.uri, why))
            return NO_ONE
        emails = {uid: await self._email_of(uid) for uid in unnamed_users(granted)}
        members = {}
        for group_id, name in site_groups(granted).items():
            listed = (
                await self._site_groups.members(group_id, name)
                if self._site_groups is not None else None
            )
            if listed is None:
                self._unlisted.setdefault(name, set()).add(item.uri)
            else:
                members[group_id] = listed
        found, unknown = readers(granted, {k: v for k, v in emails.items() if v}, members)
        if unknown:
            log.warning("sharepoint_permissions_left_out", item=item.name, left_out=unknown)
        return found

    async def fetch(self, item: RemoteItem, *, salt: str) -> LoadedDocument:
        assert self._drive_id is not None, "list() first"
        item_id = item.uri.rsplit(":", 1)[1]
        suffix = PurePosixPath(item.name).suffix.lower()
        convert = suffix in _CONVERTIBLE
        url = f"{self._graph}/drives/{self._drive_id}/items/{item_id}/content"
        what = f"Graph download of {item.name}"
        headers = {"Authorization": f"Bearer {await self._token()}"}
        status, body, answer = await request(
            self._session,
            "GET",
            url,
            what=what,
            hint=_HINT,
            headers=headers,
            params={"format": "pdf"} if convert else None,
            follow=False,
        )
        if status in (301, 302, 303, 307, 308) and answer.get("Location"):
            # The download address is pre-authenticated; a bearer token sent there is refused.
            _, body, _ = await request(self._session, "GET", answer["Location"], what=what)
        document = load_bytes(body, item.name + (".pdf" if convert else ""), salt=salt)
        if convert:
            document.title = PurePosixPath(item.name).stem.replace("-", " ").replace("_", " ")
        document.uri = item.uri
        document.url = item.url
        document.path = item.name
        document.source = self.kind
        if self._domain:
            document.domain = self._domain
        return document

    async def aclose(self) -> None:
        await self._session.close()


def _readable(name: str) -> bool:
    suffix = PurePosixPath(name).suffix.lower()
    return suffix in LOADERS or suffix in _CONVERTIBLE


def _field(payload: dict[str, Any], key: str, what: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise SourceUnavailable(f"Graph answered a {what} without an {key}; nothing was changed.")
    return value


def _values(payload: dict[str, Any], what: str) -> list[dict[str, Any]]:
    value = payload.get("value")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SourceUnavailable(
            f"Graph answered a {what} without a value list; nothing was changed."
        )
    return value
