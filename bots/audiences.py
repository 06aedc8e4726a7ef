"""``switchboard ingest --allow`` and ``--permissions-only``: document audiences from the
command line, set before anything is ingested; ``--permissions-only`` also lists SharePoint
and Confluence again to mirror who may read each item, reading no content."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.identity.principals import audience_of
from core.identity.targets import audience_target
from core.ingest.connectors.base import Source
from core.ingest.connectors.permissions import Mirrored, PermissionSink
from core.ingest.sources import configured_sources
from core.settings import Settings
from store.audiences import PgAudiences
from store.database import Database


async def set_audiences(
    settings: Settings, targets: Sequence[str], allow: Sequence[str], permissions_only: bool
) -> int:
    """Record ``allow`` for each target (checked first: an unknown principal raises
    ``UnknownPrincipal`` and nothing is changed), then apply every target's audience to the
    documents stored. Returns how many documents changed audience."""
    audience = audience_of(allow) if allow else None
    if not allow and not permissions_only:
        return 0
    db = await Database.connect(settings)
    try:
        audiences = PgAudiences(db.pool)
        changed = 0
        if allow:
            for target in targets:
                changed += await audiences.allow(audience_target(target, settings), audience)
        if permissions_only:
            changed += await audiences.reapply()
            changed += await mirror_sources(configured_sources(settings), audiences)
        return changed
    finally:
        await db.aclose()


async def mirror_sources(sources: Sequence[Source], audiences: PgAudiences) -> int:
    """List each SharePoint and Confluence source (no content is read; closed after): each
    listing records who may read each item and applies it. A source that cannot be listed
    raises, and its documents keep the audiences they had."""
    changed = 0
    for source in sources:
        try:
            if hasattr(source, "permissions"):
                source.permissions = CountingSink(audiences)  # type: ignore[attr-defined]
                await source.list()
                changed += source.permissions.changed  # type: ignore[attr-defined]
        finally:
            await source.aclose()
    return changed


class CountingSink:
    """A ``PermissionSink`` that counts the documents whose audience changed."""

    def __init__(self, sink: PermissionSink) -> None:
        self._sink = sink
        self.changed = 0

    async def mirror(self, scope: str, permissions: Mapping[str, Mirrored]) -> int:
        found = await self._sink.mirror(scope, permissions)
        self.changed += found
        return found
