"""Who may read a Confluence page: the space's view permission, and its own and every
ancestor's read restrictions.

Each is a *level*: everyone, or the people and groups it names. A person reads a page when
they pass every level: named there (by email), or a member of a group named there (their
Confluence groups, asked once a listing and only when needed); a group passes a level only
when that same group is named there. So a page restricted to Maria in a space only HR may view
is read by Maria when she is in HR, and a group named at one level but not another is left
out — narrower, never wider. People are matched by email (Cloud shows it only when the
person's profile allows; a person without one is left out), groups by name (``group:<name>``:
Entra groups synchronised to Atlassian keep their names). A group named in
``CONFLUENCE_EVERYONE_GROUPS`` makes its level everyone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

from core.errors import SourceUnavailable
from core.ingest.connectors.confluence_space import group_principal
from core.ingest.connectors.permissions import EVERYONE, NO_ONE, Mirrored

# Asked for with each page of the listing: no call per page.
EXPAND = "restrictions.read.restrictions.user,restrictions.read.restrictions.group,ancestors"

Level = frozenset[str] | None  # None: everyone
Handle = tuple[str, str]  # how to ask Confluence for a person's groups


def own_readers(
    entry: Mapping[str, Any], space: str, everyone_groups: Collection[str] = (),
    handles: dict[str, Handle] | None = None,
) -> tuple[Level, list[str]]:
    """A listed page's own read restriction: None when it has none, else the principals it
    names; and what was left out. ``handles`` gathers how to ask for each named person's
    groups. Raises when the listing does not say (nothing changes)."""
    try:
        read = entry["restrictions"]["read"]["restrictions"]
        users = read.get("user") or {}
        groups = read.get("group") or {}
    except (KeyError, TypeError, AttributeError) as exc:
        raise SourceUnavailable(
            f"Confluence listed a page of space {space} without its read restrictions; "
            "nothing was changed."
        ) from exc
    everyone = {group_principal(g) for g in everyone_groups}
    named: set[str] = set()
    left_out: list[str] = []
    count = 0
    for user in users.get("results") or ():
        count += 1
        email = user.get("email") if isinstance(user, dict) else None
        if isinstance(email, str) and "@" in email:
            email = email.strip().lower()
            named.add(email)
            if handles is not None and user.get("accountId"):
                handles.setdefault(email, ("accountId", str(user["accountId"])))
            elif handles is not None and user.get("username"):
                handles.setdefault(email, ("username", str(user["username"])))
        else:
            who = user.get("displayName") or user.get("accountId") if isinstance(user, dict) else user
            left_out.append(f"{who} (no email visible)")
    for group in groups.get("results") or ():
        count += 1
        name = group.get("name") if isinstance(group, dict) else None
        if isinstance(name, str) and name.strip():
            named.add(group_principal(name))
        else:
            left_out.append("a group without a name")
    for part, kind in ((users, "people"), (groups, "groups")):
        size = part.get("size") if isinstance(part, dict) else None
        if isinstance(size, int) and size > len(part.get("results") or ()):
            left_out.append(f"{size - len(part.get('results') or ())} more {kind} (not listed)")
    if count == 0 or named & everyone:
        return None, left_out
    return frozenset(named), left_out


def page_levels(
    page_id: str, ancestors: Sequence[str], own: Mapping[str, Level]
) -> list[frozenset[str]] | None:
    """The restricted levels above and on ``page_id`` (the space's not included); None when an
    ancestor is one the listing did not hold (outside the space, not current): no one."""
    levels: list[frozenset[str]] = []
    for pid in (*ancestors, page_id):
        if pid not in own:
            return None
        level = own[pid]
        if level is not None:
            levels.append(level)
    return levels


async def readers(
    levels: Sequence[frozenset[str]] | None,
    groups_of: Callable[[str], Awaitable[frozenset[str]]],
) -> Mirrored:
    """Everyone who passes every level (``groups_of(email)``: that person's groups, asked
    only for someone not named at a level that names groups)."""
    if levels is None:
        return NO_ONE
    if not levels:
        return EVERYONE
    passing: set[str] = set()
    for candidate in frozenset().union(*levels):
        for level in levels:
            if candidate in level:
                continue
            if not candidate.startswith("group:") and any(p.startswith("group:") for p in level) and (
                await groups_of(candidate) & level
            ):
                continue
            break
        else:
            passing.add(candidate)
    return Mirrored.of(passing)
