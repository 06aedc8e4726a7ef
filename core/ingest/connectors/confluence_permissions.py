"""Who may read a Confluence page: its own read restrictions and every ancestor's.

A page restricted for viewing is readable by the people and groups its restriction names; a
page under restricted pages must satisfy each of them too, so its readers are those every
level names (kept literally: someone who qualifies at two levels through different names is
left out — narrower, never wider). A page with no read restriction on it or above it is
readable by everyone who can see the space (the space's audience: ``ingest confluence:KEY
--allow ...``). People are matched by email (Cloud shows it only when the person's profile
allows; a person without one is left out), groups by name (``group:<name>``: Entra groups
synchronised to Atlassian keep their names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import SourceUnavailable
from core.ingest.connectors.permissions import EVERYONE, NO_ONE, Mirrored

# Asked for with each page of the listing: no call per page.
EXPAND = "restrictions.read.restrictions.user,restrictions.read.restrictions.group,ancestors"


def own_readers(entry: Mapping[str, Any], space: str) -> tuple[frozenset[str] | None, list[str]]:
    """A listed page's own read restriction: None when it has none, else the principals it
    names; and what was left out. Raises when the listing does not say (nothing changes)."""
    try:
        read = entry["restrictions"]["read"]["restrictions"]
        users = read.get("user") or {}
        groups = read.get("group") or {}
    except (KeyError, TypeError, AttributeError) as exc:
        raise SourceUnavailable(
            f"Confluence listed a page of space {space} without its read restrictions; "
            "nothing was changed."
        ) from exc
    named: set[str] = set()
    left_out: list[str] = []
    count = 0
    for user in users.get("results") or ():
        count += 1
        email = user.get("email") if isinstance(user, dict) else None
        if isinstance(email, str) and "@" in email:
            named.add(email.strip().lower())
        else:
            who = user.get("displayName") or user.get("accountId") if isinstance(user, dict) else user
            left_out.append(f"{who} (no email visible)")
    for group in groups.get("results") or ():
        count += 1
        name = group.get("name") if isinstance(group, dict) else None
        if isinstance(name, str) and name.strip():
            named.add("group:" + " ".join(name.split()).lower())
        else:
            left_out.append("a group without a name")
    for part, kind in ((users, "people"), (groups, "groups")):
        size = part.get("size") if isinstance(part, dict) else None
        if isinstance(size, int) and size > len(part.get("results") or ()):
            left_out.append(f"{size - len(part.get('results') or ())} more {kind} (not listed)")
    if count == 0:
        return None, left_out
    return frozenset(named), left_out


def page_readers(
    page_id: str, ancestors: Sequence[str], own: Mapping[str, frozenset[str] | None]
) -> Mirrored:
    """Readers of ``page_id`` given each listed page's own restriction. An ancestor the
    listing did not hold (outside the space, not current) makes the page readable by no one."""
    levels: list[frozenset[str]] = []
    for pid in (*ancestors, page_id):
        if pid not in own:
            return NO_ONE
        level = own[pid]
        if level is not None:
            levels.append(level)
    if not levels:
        return EVERYONE
    return Mirrored.of(frozenset.intersection(*levels))
