"""A SharePoint/OneDrive item's Graph permissions (``GET /drives/{d}/items/{i}/permissions``:
the effective ones, inherited and unique) as the item's readers.

- a sharing link whose scope is ``organization`` or ``anonymous``: everyone;
- a link for specific people (scope ``users``): the people and groups it names;
- a person: their email (``grantedToV2.user.email``, a site user's email or login name, else
  the directory's ``mail`` or user principal name for their object id);
- an Entra group: ``group:<object id>``;
- "Everyone" / "Everyone except external users": everyone;
- a SharePoint site group ("HR Members"): its members, when SharePoint's REST API could list
  them (``sharepoint_groups``); otherwise ``via_target`` (the audience set on the source with
  ``--allow`` stands in, none set: no one), and the listing notes it;
- applications and devices read nothing for a person. Anything else is left out (noted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.ingest.connectors.permissions import EVERYONE, Mirrored

_EVERYONE_LINKS = frozenset({"organization", "anonymous"})
# SharePoint's claims for "Everyone" and "Everyone except external users".
_EVERYONE_CLAIMS = ("spo-grid-all-users", "c:0(.s|true")


def unnamed_users(permissions: Iterable[Any]) -> set[str]:
    """Object ids of the people granted access whose email the permissions do not show (to be
    looked up in the directory)."""
    found: set[str] = set()
    for permission in permissions:
        if not isinstance(permission, dict):
            continue
        grantees = [
            permission.get("grantedToV2") or permission.get("grantedTo"),
            *(permission.get("grantedToIdentitiesV2") or permission.get("grantedToIdentities")
              or ()),
        ]
        for grantee in grantees:
            user = grantee.get("user") if isinstance(grantee, dict) else None
            if isinstance(user, dict) and isinstance(user.get("id"), str) and user["id"] and (
                _principal(grantee) is None
            ):
                found.add(user["id"])
    return found


def site_groups(permissions: Iterable[Any]) -> dict[str, str]:
    """The site groups granted access: their number in the site -> their name."""
    found: dict[str, str] = {}
    for permission in permissions:
        grantee = permission.get("grantedToV2") if isinstance(permission, dict) else None
        group = grantee.get("siteGroup") if isinstance(grantee, dict) else None
        if isinstance(group, dict) and group.get("id"):
            found[str(group["id"])] = str(group.get("displayName") or group["id"])
    return found


def readers(
    permissions: Iterable[Any], emails: Mapping[str, str] | None = None,
    site_members: Mapping[str, Mirrored] | None = None,
) -> tuple[Mirrored, list[str]]:
    """The readers the permissions grant, and what could not be understood (left out).
    ``emails``: the directory's email of people whose grant shows only their object id.
    ``site_members``: the members of the site groups that could be listed, by number."""
    emails = emails or {}
    site_members = site_members or {}
    principals: set[str] = set()
    via_target = False
    unknown: list[str] = []
    for permission in permissions:
        if not isinstance(permission, dict):
            unknown.append("a permission that is not an object")
            continue
        roles = permission.get("roles")
        if not isinstance(roles, list) or not roles:
            unknown.append(f"permission {permission.get('id')!r} without roles")
            continue
        link = permission.get("link")
        if isinstance(link, dict):
            scope = link.get("scope")
            if scope in _EVERYONE_LINKS:
                return EVERYONE, unknown
            if scope == "existingAccess":
                continue  # grants nothing beyond what other permissions say
            if scope != "users":
                unknown.append(f"a sharing link with scope {scope!r}")
                continue
            grantees = permission.get("grantedToIdentitiesV2") or permission.get(
                "grantedToIdentities"
            )
        else:
            grantee = permission.get("grantedToV2") or permission.get("grantedTo")
            grantees = [grantee] if grantee else None
        if not isinstance(grantees, list) or not grantees:
            unknown.append(f"permission {permission.get('id')!r} granted to no one it names")
            continue
        for grantee in grantees:
            found = _principal(grantee) or _looked_up(grantee, emails)
            if found == "everyone":
                return EVERYONE, unknown
            if found == "site":
                members = site_members.get(str(grantee["siteGroup"].get("id")))
                if members is None:
                    via_target = True
                elif members.everyone:
                    return EVERYONE, unknown
                else:
                    principals.update(members.principals)
            elif found is not None:
                principals.add(found)
            elif not _not_a_person(grantee):
                unknown.append(f"a grant to {_describe(grantee)}")
    return Mirrored.of(principals, via_target=via_target), unknown


def _principal(grantee: Any) -> str | None:
    """An email, ``group:<id>``, ``everyone``, ``site`` (a site group), or None."""
    if not isinstance(grantee, dict):
        return None
    for kind in ("user", "siteUser"):
        who = grantee.get(kind)
        if isinstance(who, dict):
            login = str(who.get("loginName") or "")
            if any(claim in login for claim in _EVERYONE_CLAIMS):
                return "everyone"
            email = who.get("email") or who.get("userPrincipalName") or _login_email(login)
            if isinstance(email, str) and "@" in email:
                return email.strip().lower()
            return None
    group = grantee.get("group")
    if isinstance(group, dict):
        login = str(group.get("loginName") or "")
        if any(claim in login for claim in _EVERYONE_CLAIMS):
            return "everyone"
        if isinstance(group.get("id"), str) and group["id"]:
            return "group:" + group["id"].strip().lower()
        return None
    if isinstance(grantee.get("siteGroup"), dict):
        return "site"
    return None


def _looked_up(grantee: Any, emails: Mapping[str, str]) -> str | None:
    user = grantee.get("user") if isinstance(grantee, dict) else None
    email = emails.get(str(user.get("id"))) if isinstance(user, dict) else None
    return email.strip().lower() if email and "@" in email else None


def _login_email(login: str) -> str | None:
    # "i:0#.f|membership|alice@contoso.com"
    tail = login.rsplit("|", 1)[-1]
    return tail if "@" in tail else None


def _not_a_person(grantee: Any) -> bool:
    return isinstance(grantee, dict) and bool(
        set(grantee) & {"application", "device"}
        and not set(grantee) & {"user", "siteUser", "group", "siteGroup"}
    )


def _describe(grantee: Any) -> str:
    if isinstance(grantee, dict):
        for value in grantee.values():
            if isinstance(value, dict) and value.get("displayName"):
                return repr(str(value["displayName"]))
        return "something of kind " + ", ".join(sorted(map(str, grantee))) if grantee else "no one"
    return "something unknown"
