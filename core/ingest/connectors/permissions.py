"""Who may read a document at its source, mirrored into the index at every listing.

SharePoint/OneDrive and Confluence say who may read each item; the connector turns that into
a ``Mirrored`` audience and hands it, with every item it listed, to a ``PermissionSink``
(``store.audiences.PgAudiences``) before the ingestor writes anything. A connector that has
no sink refuses to list: documents are never stored without their audience.

Fail closed: a grant the connector cannot turn into a principal (a shape it does not know, a
person without an email) is left out, which narrows the audience and never widens it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from core.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Mirrored:
    """An item's readers at its source.

    ``everyone``: the whole organisation (a SharePoint "people in your organisation" or
    anyone link, a Confluence page without read restrictions). Otherwise ``principals``
    (lower-case emails and ``group:<id or name>``; empty: no one here). ``via_target``: part
    of the readers are the source's own membership (SharePoint site groups, which the
    directory cannot list); the audience an admin set on the source with ``--allow`` stands
    in for them, or no one when none is set.
    """

    principals: tuple[str, ...] = ()
    everyone: bool = False
    via_target: bool = False

    @classmethod
    def of(cls, principals: Iterable[str], *, via_target: bool = False) -> Mirrored:
        return cls(tuple(sorted({p.strip().lower() for p in principals if p.strip()})),
                   via_target=via_target)


EVERYONE = Mirrored(everyone=True)
NO_ONE = Mirrored()


class PermissionSink(Protocol):
    """Records the audiences a listing found, under the source's ``scope``, and applies them
    to the documents stored there. Returns how many documents changed audience."""

    async def mirror(self, scope: str, permissions: Mapping[str, Mirrored]) -> int: ...


class PermissionsUnrecorded(ConfigurationError):
    """A connector that mirrors permissions was asked to list without a place to record
    them."""


def require(sink: PermissionSink | None, what: str) -> PermissionSink:
    """``sink``, or ``PermissionsUnrecorded`` before anything is read."""
    if sink is None:
        raise PermissionsUnrecorded(
            f"{what}: its permissions have nowhere to be recorded, so nothing was ingested."
        )
    return sink


async def record(
    sink: PermissionSink | None, scope: str, permissions: Mapping[str, Mirrored], what: str
) -> None:
    await require(sink, what).mirror(scope, permissions)


def mirror_into(sources: Iterable[object], sink: PermissionSink) -> None:
    """Give every source that mirrors permissions (``permissions`` attribute) its sink."""
    for source in sources:
        if hasattr(source, "permissions"):
            source.permissions = sink  # type: ignore[attr-defined]
